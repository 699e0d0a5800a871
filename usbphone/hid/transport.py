"""The transport seam: open, read with timeout, write, close — nothing else (DESIGN.md "Transport").

Implementations: hidraw (/dev/hidrawN nodes), usb (pyusb), serial (pyserial), replay (a trace). Keeping
the seam this narrow lets the emulated tests (umockdev, simulators, replay) run the same runner, driver
and Phone path the product runs.

Contract:
- ``read(timeout)`` returns one report (bytes), or None when ``timeout`` seconds passed with nothing;
  ``timeout=None`` blocks until a report arrives or ``close()`` is called (then it returns None promptly).
- ``write(report)`` writes one OutputReport; its ``transport`` field says how (hidraw/feature/control/…).
- Errors a user can act on (device vanished, permission denied, busy) raise TransportError with one
  readable sentence; ``gone=True`` marks an unplugged device.
- ``close()`` is idempotent and callable from any thread.
- Optional ``wake()`` (any thread): the pending read, or the next one, returns None at once, so the runner
  asks the driver again how long it may block (e.g. an LED told to blink while the reader waited with
  ``timeout=None``). Transports without it are woken by the device's next report.

Edit this module only when the seam itself changes.
"""

from __future__ import annotations

from typing import Protocol

from usbphone.drivers.base import OutputReport
from usbphone.errors import UserError


class TransportError(UserError):
    """A device could not be opened, read or written."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


class Transport(Protocol):
    def open(self) -> None: ...

    def read(self, timeout: float | None) -> bytes | None: ...

    def write(self, report: OutputReport) -> None: ...

    def close(self) -> None: ...

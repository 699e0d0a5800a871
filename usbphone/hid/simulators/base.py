"""The transport side every device simulator shares: a queue of device→host reports behind open/read/close.

A simulator subclasses ``SimulatedDevice``, answers host writes in its own ``write`` (after ``check_open``)
and queues what the phone sends with ``send``. ``close`` (any thread) wakes a blocked ``read``; a closed
simulator behaves like an unplugged phone (``TransportError(gone=True)`` on open and write).

Edit this module when every simulator needs the same new transport behaviour.
"""

from __future__ import annotations

import queue

from usbphone.hid.transport import TransportError


class SimulatedDevice:
    """Queue-backed Transport half; ``what`` names the phone in error messages."""

    what = "simulated phone"

    def __init__(self) -> None:
        self._reports: queue.Queue[bytes | None] = queue.Queue()
        self.opened = self.closed = False

    def open(self) -> None:
        self.check_open()
        self.opened = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._reports.put(None)

    def read(self, timeout: float | None) -> bytes | None:
        if self.closed:
            return None
        try:
            if timeout is None or timeout > 0:
                return self._reports.get(timeout=timeout)
            return self._reports.get_nowait()
        except queue.Empty:
            return None

    def check_open(self) -> None:
        if self.closed:
            raise TransportError(f"{self.what} was unplugged", gone=True)

    def send(self, report: bytes) -> None:
        """The phone sends ``report`` to the host."""
        self._reports.put(report)

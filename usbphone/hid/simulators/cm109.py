"""A CM109 USB phone simulated from the documented protocol, exposed as a Transport.

Keys sit on a 4x4 matrix: rows are GPI pins 4-7 (IR1 high nibble), columns GPO pins 0-3. IR1 reads the
row lines of the pressed key when its column is driven, plus the driven columns in the low nibble. The
phone sends a report after every output write (the kernel driver's write/read ping-pong) and whenever a
key or an IR0 button changes. OR0 bit 5 is the buzzer; the simulator records it.

source: ../shared/protocols/usb-phone-protocols.md §3.2-3.3. Edit when the protocol notes change.
"""

from __future__ import annotations

import threading

from usbphone.drivers.base import OutputReport
from usbphone.hid.simulators.base import SimulatedDevice
from usbphone.hid.transport import TransportError


class CM109Simulator(SimulatedDevice):
    """Transport behaving like a CM109 phone with one key matrix."""

    what = "simulated CM109 phone"

    def __init__(self) -> None:
        super().__init__()
        self.key: int | None = None  # scan code row|column of the key held down
        self.ir0 = 0
        self.driven = 0x0F
        self.buzzer = False
        self.buzzer_changes: list[bool] = []
        self.writes: list[bytes] = []
        self._lock = threading.Lock()

    def write(self, report: OutputReport) -> None:
        self.check_open()
        data = bytes(report.data)
        if len(data) != 4 or report.transport != "control":
            raise TransportError(f"a CM109 takes 4-byte SET_REPORT writes, got {len(data)} bytes/{report.transport}")
        with self._lock:
            self.writes.append(data)
            if data[0] & 0xC0 == 0:  # bits 7-6 = 00: OR1/OR2 are GPIO, OR0 bit 5 the buzzer (§3.2)
                buzz = bool(data[0] & 0x20)
                if buzz != self.buzzer:
                    self.buzzer_changes.append(buzz)
                self.buzzer = buzz
                self.driven = data[1] & data[2] & 0x0F
            self._send()

    # -- the phone's side ----------------------------------------------------------------------------
    def press(self, code: int) -> None:
        with self._lock:
            self.key = code
            self._send()

    def release(self) -> None:
        with self._lock:
            self.key = None
            self._send()

    def set_buttons(self, ir0: int) -> None:
        with self._lock:
            self.ir0 = ir0
            self._send()

    def _send(self) -> None:
        rows = 0
        if self.key is not None and self.key & 0x0F & self.driven:
            rows = self.key & 0xF0
        self.send(bytes([self.ir0, rows | self.driven, 0x00, 0x00]))

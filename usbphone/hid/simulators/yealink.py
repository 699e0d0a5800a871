"""A Yealink USB-P1K-family phone simulated from the documented protocol, exposed as a Transport.

It answers what a G1 phone answers: VERSION (model version), INIT (serial number), KEYPRESS (key-event
counter; on a B3G also PSTN-ring and hook bits), SCANCODE (the scan code of key event n from a 32-entry
history), HOOKPRESS (P4K) and HANDSET (B2K), and a 0xFD reply to a packet with a bad checksum. Output
commands (LCD, LED, ringer, dial tone, PSTN switch, ...) change its recorded state. A G2 phone (P1KH)
sends a SCANCODE packet by itself on every key change.

source: ../shared/protocols/usb-phone-protocols.md §2.2-2.5. Edit when the protocol notes change.
"""

from __future__ import annotations

import threading

from usbphone.drivers import yealink_proto as yp
from usbphone.drivers.base import OutputReport
from usbphone.drivers.yealink_lcd import GLYPHS, LINE3, LcdBuffer
from usbphone.hid.simulators.base import SimulatedDevice
from usbphone.hid.transport import TransportError

VERSIONS = {"p1k": 0x0110, "p4k": 0x0240, "b2k": 0x0525, "b3g": 0x0550, "p1kh": 0x0110}  # inside §2.1 ranges


class YealinkSimulator(SimulatedDevice):
    """Transport that behaves like a Yealink phone of ``model``."""

    what = "simulated Yealink phone"

    def __init__(self, model: str = "p1k", *, version: int | None = None, serial: bytes = b"SIM0001") -> None:
        super().__init__()
        self.model = model
        self.gen = 2 if model == "p1kh" else 1
        self.version = VERSIONS.get(model, 0x0110) if version is None else version
        self.serial = serial
        self.counter = 0x10  # any start value: the host learns it from the first KEYPRESS reply
        self.history = [0xFF] * 32  # 0xFF = no key (§2.5)
        self.off_hook = False
        self.pstn_ringing = False
        self.lcd = bytearray(24)
        self.state: dict[str, int] = {}  # last value per output command name (LED, RINGTONE, B2K_RING, ...)
        self.writes: list[yp.Packet] = []
        self.bad_writes = 0
        self.corrupt_replies = 0  # the next n replies get a wrong checksum (fault injection)
        self._lock = threading.Lock()

    # -- the transport seam (open/read/close: SimulatedDevice) -------------------------------------
    def write(self, report: OutputReport) -> None:
        self.check_open()
        if report.transport != "control":
            raise TransportError(f"a Yealink phone takes control transfers, not {report.transport}")
        with self._lock:
            self._handle(bytes(report.data))

    # -- the phone's side (tests drive these) ------------------------------------------------------
    def press(self, code: int) -> None:
        """A key goes down: a new key event with ``code``."""
        self._key_event(code)

    def release(self) -> None:
        self._key_event(0xFF)

    def set_hook(self, off_hook: bool) -> None:
        with self._lock:
            self.off_hook = off_hook

    def set_pstn_ringing(self, ringing: bool) -> None:
        with self._lock:
            self.pstn_ringing = ringing

    def line3(self) -> str:
        """The number line as text, read back from the LCD bytes (unknown shapes as '?')."""
        shapes = {v: k for k, v in GLYPHS.items() if k in "0123456789 -"}
        out = []
        for seg in LINE3:
            lit = "".join(sorted(s for s, (b, m) in seg.items() if self.lcd[b] & m))
            out.append(next((ch for shape, ch in shapes.items() if "".join(sorted(shape)) == lit), "?"))
        return "".join(out)

    def commands(self, name: str) -> list[yp.Packet]:
        return [p for p in self.writes if p.name == name]

    # -- internals -----------------------------------------------------------------------------------
    def _key_event(self, code: int) -> None:
        with self._lock:
            self.counter = (self.counter + 1) & 0xFF
            self.history[(self.counter - 1) & 0x1F] = code
            if self.gen == 2:
                self._reply(yp.CMD_SCANCODE, bytes([code]))

    def _reply(self, cmd: int, data: bytes = b"", size: int = 1) -> None:
        raw = bytearray(yp.build(self.gen, cmd, data, size=size))
        if self.corrupt_replies:
            self.corrupt_replies -= 1
            raw[-1] ^= 0x5A
        self.send(bytes(raw))

    def _handle(self, raw: bytes) -> None:
        try:
            pkt = yp.parse_packet(raw)
        except yp.PacketError:
            self.bad_writes += 1
            self._reply(yp.STATE_BAD_PKT)  # source: §2.3 "the phone answers a bad packet with state 0xFD"
            return
        self.writes.append(pkt)
        cmd, data = pkt.cmd, pkt.data
        if cmd == yp.CMD_VERSION:
            self._reply(cmd, self.version.to_bytes(2, "big"), size=2)
        elif cmd == yp.CMD_INIT:
            self._reply(cmd, self.serial[: yp.G1_DATA if self.gen == 1 else yp.G2_DATA], size=10)
        elif cmd == yp.CMD_KEYPRESS:
            extra = bytes([self.pstn_ringing, not self.off_hook]) if self.model == "b3g" else b""
            self._reply(cmd, bytes([self.counter]) + extra, size=1 + len(extra))
        elif cmd == yp.CMD_SCANCODE:
            self._reply(cmd, bytes([self.history[pkt.offset & 0x1F]]))
        elif cmd == yp.CMD_HOOKPRESS and self.model == "p4k":
            self._reply(cmd, bytes([0 if self.off_hook else 0x10]))
        elif cmd == yp.CMD_HANDSET and self.model == "b2k":
            self._reply(cmd, bytes([(2 if self.off_hook else 0) | self.pstn_ringing]))
        elif cmd == yp.CMD_LCD:
            if self.gen == 1:
                self.lcd[pkt.offset : pkt.offset + pkt.size] = data[: pkt.size]
            else:
                n, off = data[0], data[1]
                self.lcd[off : off + n] = data[2 : 2 + n]
        else:
            self.state[pkt.name] = data[0]


def lcd_from_text(text: str) -> bytes:
    """The LCD bytes line 3 shows for ``text`` (for assertions)."""
    buf = LcdBuffer()
    buf.set_line3(text)
    return bytes(buf.data)

"""pyserial transport for serial-attached handsets: text lines, or modem-control line levels.

- ``lines`` mode (serial_lines driver): each read returns one received line without its line ending;
  writes send the bytes as they are.
- ``modem`` mode (serial_modem driver): reads return one byte of input line levels (bit 0 CTS, bit 1 DSR,
  bit 2 DCD, bit 3 RI) when they change, and every ``heartbeat`` seconds anyway (a clock tick for the
  driver's timers, and so recordings replay on their own); writes take one byte of output levels (bit 0
  RTS, bit 1 DTR). The levels come from a ``LineSource``: the port in production, a scripted source in
  tests (modem-control lines cannot be driven on a pseudo-terminal: TIOCMGET fails there).

The port is the DeviceInfo's node, or found through pyudev by the USB adapter's VID/PID/serial number.
It is opened exclusively; a busy, forbidden or vanished port is one readable TransportError.
Reached by the tests: line mode over a pseudo-terminal pair, modem mode with a scripted LineSource, find_port
under umockdev. Not reached: ``PortLines`` (pyserial's TIOCMGET/TIOCMSET on a real adapter; a pty refuses them).
Edit this module when the serial plumbing changes; protocol logic lives in the drivers.
"""

from __future__ import annotations

import errno
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from usbphone.drivers.base import OutputReport
from usbphone.hid.transport import TransportError

READ_SLICE = 0.1
MAX_LINE = 4096  # a line longer than this is cut (a device spewing binary must not grow memory)


class LineSource(Protocol):
    """Where modem-control levels come from (the port, or a test script)."""

    def levels(self) -> int: ...

    def set_outputs(self, bits: int) -> None: ...


class PortLines:
    """Modem-control lines of an open pyserial port."""

    def __init__(self, port: Any) -> None:
        self.port = port

    def levels(self) -> int:
        p = self.port
        return (p.cts and 1) | (p.dsr and 2) | (p.cd and 4) | (p.ri and 8)

    def set_outputs(self, bits: int) -> None:
        self.port.rts = bool(bits & 1)
        self.port.dtr = bool(bits & 2)


def find_port(vid: int, pid: int, serial: str = "", context: Any = None) -> str:
    """The tty node of the USB serial adapter with these ids (and serial number, when given)."""
    import pyudev

    ctx = context or pyudev.Context()
    for dev in ctx.list_devices(subsystem="tty"):
        usb = dev.find_parent("usb", "usb_device")
        if usb is None or not dev.device_node:
            continue
        attrs = usb.attributes
        try:
            ok = int(attrs.asstring("idVendor"), 16) == vid and int(attrs.asstring("idProduct"), 16) == pid
            ok = ok and (not serial or attrs.asstring("serial").strip() == serial)
        except (KeyError, ValueError):
            continue
        if ok:
            return str(dev.device_node)
    wanted = f"{vid:04x}:{pid:04x}" + (f" serial {serial}" if serial else "")
    raise TransportError(f"no serial port of USB adapter {wanted} is attached", gone=True)


def explain(exc: BaseException, port: str) -> TransportError:
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code in (errno.EBUSY,) or "exclusively lock" in text or "Resource temporarily unavailable" in text:
        return TransportError(f"{port} is in use by another program (ModemManager, a terminal, another usbphone): "
                              f"close it, or stop ModemManager from probing it (sudo systemctl stop ModemManager)")
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return TransportError(f"no permission to open {port}: add yourself to the 'dialout' group "
                              "(sudo usermod -aG dialout $USER, then log in again) or install usbphone's udev rules")
    if code in (errno.ENOENT, errno.ENODEV, errno.EIO, errno.ENXIO) or "disconnected" in text \
            or "No such file" in text:
        return TransportError(f"{port} vanished (unplugged?): {text}", gone=True)
    return TransportError(f"{port}: serial error: {text}")


class SerialTransport:
    """The Transport seam over pyserial."""

    def __init__(
        self,
        port: str = "",
        *,
        vid: int = 0,
        pid: int = 0,
        usb_serial: str = "",
        baudrate: int = 9600,
        mode: str = "lines",
        heartbeat: float = 0.25,
        poll_interval: float = 0.002,
        line_source: Callable[[Any], LineSource] | None = None,
    ) -> None:
        if mode not in ("lines", "modem"):
            raise ValueError(f"mode must be lines or modem, not {mode!r}")
        self.port_name, self.vid, self.pid, self.usb_serial = port, vid, pid, usb_serial
        self.baudrate, self.mode = baudrate, mode
        self.heartbeat, self.poll_interval = heartbeat, poll_interval
        self.make_source = line_source or PortLines
        self.port: Any = None
        self.source: LineSource | None = None
        self._buf = bytearray()
        self._closed = threading.Event()
        self._last_levels: int | None = None
        self._last_report = 0.0

    @classmethod
    def for_device(cls, dev: Any, profile: Any, driver: Any) -> SerialTransport:
        opts = profile.options if profile is not None else {}
        if opts.get("usb_serial") and dev.serial and dev.serial != opts["usb_serial"]:
            raise TransportError(f"{dev.path}: adapter serial {dev.serial!r} is not the configured "
                                 f"usb_serial {opts['usb_serial']!r}")
        return cls(dev.path, vid=dev.vid, pid=dev.pid, usb_serial=str(opts.get("usb_serial", "")),
                   baudrate=int(opts.get("baudrate", 9600)),
                   mode="modem" if getattr(driver, "name", "") == "serial_modem" else "lines")

    def open(self) -> None:
        import serial

        self._closed.clear()
        name = self.port_name or find_port(self.vid, self.pid, self.usb_serial)
        self.port_name = name
        try:
            self.port = serial.Serial(name, self.baudrate, timeout=0, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise explain(exc, name) from None
        self.source = self.make_source(self.port) if self.mode == "modem" else None
        self._buf.clear()
        self._last_levels = None

    def close(self) -> None:
        self._closed.set()
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # already gone
                pass

    def read(self, timeout: float | None) -> bytes | None:
        end = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._closed.is_set() and self.port is not None:
                got = self._modem_step() if self.mode == "modem" else self._line_step(end)
                if got is not None:
                    return got
                if end is not None and time.monotonic() >= end:
                    return None
                if self.mode == "modem":
                    time.sleep(self.poll_interval)
        except (OSError, TypeError, AttributeError) as exc:
            if self._closed.is_set():
                return None
            raise explain(exc, self.port_name) from None
        except Exception as exc:  # serial.SerialException
            if self._closed.is_set():
                return None
            raise explain(exc, self.port_name) from None
        return None

    def _line_step(self, end: float | None) -> bytes | None:
        for sep in (b"\n", b"\r"):
            idx = self._buf.find(sep)
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + 1]
                if line:
                    return line
                return self._line_step(end)
        if len(self._buf) > MAX_LINE:
            line = bytes(self._buf[:MAX_LINE])
            del self._buf[:MAX_LINE]
            return line
        port = self.port
        left = READ_SLICE if end is None else max(0.0, min(READ_SLICE, end - time.monotonic()))
        ready, _, _ = select.select([port.fileno()], [], [], left)
        if ready:
            chunk = port.read(max(1, port.in_waiting))  # timeout=0: what is there; raises when unplugged
            self._buf += chunk
        return None

    def _modem_step(self) -> bytes | None:
        assert self.source is not None
        levels = self.source.levels()
        now = time.monotonic()
        if levels != self._last_levels or now - self._last_report >= self.heartbeat:
            self._last_levels, self._last_report = levels, now
            return bytes([levels])
        return None

    def write(self, report: OutputReport) -> None:
        if self.port is None:
            raise TransportError(f"{self.port_name or 'serial port'} is not open", gone=True)
        try:
            if self.mode == "modem":
                assert self.source is not None
                self.source.set_outputs(report.data[0] if report.data else 0)
            else:
                self.port.write(report.data)
                self.port.flush()
        except Exception as exc:  # serial.SerialException, OSError
            raise explain(exc, self.port_name) from None

"""hidraw transport: read and write a telephony headset through its /dev/hidrawN node.

Reads use ``os.open`` + ``select`` on the node and a wake pipe, so ``close()`` from any thread unblocks a
pending ``read`` at once (and ``wake()`` makes it return None, for the runner to re-read the driver's
timeout). Why not hidapi's ``hidraw`` module (DESIGN.md names it): its blocking read cannot be interrupted
that way, and its ``open_path`` fails under umockdev (it issues hidraw ioctls umockdev cannot emulate,
recipes §6), which would keep the emulated tests off this code; enumeration uses pyudev (discovery.py),
which sees the same sysfs hidapi reads. Output reports are plain ``write()``s (report id first; a 0 byte
first for devices without report ids, as the hidraw ABI wants); feature reports use the HIDIOCSFEATURE
ioctl. The report descriptor comes from sysfs (``/sys/class/hidraw/hidrawN/device/report_descriptor``),
not from the HIDIOCGRDESC ioctl.

Reached under umockdev (recipes §6): open, select, read, write and the sysfs descriptor. Not reachable
there: the HIDIOCSFEATURE ioctl (``feature`` writes; umockdev answers hidraw ioctls with ENOTTY) and the
kernel's own errno on unplug (ENODEV/EIO mapped to ``gone=True``); those run only on real hardware or the
QEMU/uhid path.

Edit this module when the hidraw I/O changes; enumeration lives in discovery.py.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import threading
from pathlib import Path

from usbphone.drivers.base import Driver, OutputReport
from usbphone.hid.descriptor import DescriptorError, parse_descriptor
from usbphone.hid.transport import TransportError
from usbphone.profiles.schema import DeviceInfo, Profile

MAX_REPORT = 4096  # HID_MAX_BUFFER_SIZE in the kernel's include/linux/hid.h (source: linux hid.h)
GONE_ERRNOS = {errno.ENODEV, errno.EIO, errno.ENXIO, errno.ESHUTDOWN}


def _ioc(direction: int, nr: int, size: int) -> int:
    # source: linux include/uapi/asm-generic/ioctl.h; 'H' is the hidraw ioctl type (uapi/linux/hidraw.h)
    return (direction << 30) | (size << 16) | (ord("H") << 8) | nr


def hidiocsfeature(length: int) -> int:
    return _ioc(3, 0x06, length)  # _IOC(_IOC_WRITE|_IOC_READ, 'H', 0x06, len) (uapi/linux/hidraw.h)


def sysfs_descriptor(node: str, sys_root: str = "/sys") -> bytes:
    """The report descriptor of /dev/hidrawN from sysfs (b"" when unreadable)."""
    name = Path(node).name
    try:
        return (Path(sys_root) / "class" / "hidraw" / name / "device" / "report_descriptor").read_bytes()
    except OSError:
        return b""


def explain_open_error(node: str, exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{node}: permission denied ({describe_access(node)})"
    if exc.errno == errno.ENOENT:
        return f"{node}: no such device (unplugged?)"
    if exc.errno == errno.EBUSY:
        return f"{node}: busy (another program holds it)"
    return f"{node}: cannot open ({exc.strerror})"


def describe_access(node: str) -> str:
    """Why the current user may or may not open ``node``, in one phrase."""
    try:
        st = os.stat(node)
    except OSError as exc:
        return f"cannot stat: {exc.strerror}"
    if os.access(node, os.R_OK | os.W_OK):
        return "read/write ok"
    import grp
    import pwd

    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return (
        f"owned by {owner}:{group} mode {st.st_mode & 0o777:04o}; install the udev rules "
        "(`usbphone udev-rules`, uaccess) or add yourself to group " + group
    )


class HidrawTransport:
    """One /dev/hidrawN node."""

    def __init__(self, node: str, *, numbered: bool | None = None, descriptor: bytes = b"") -> None:
        self.node = node
        self._numbered = numbered
        self._sizes: dict[str, int] = {}  # unnumbered devices: output/feature report length, from the descriptor
        if descriptor:
            self._learn(descriptor)
        self._fd: int | None = None
        self._wake_r, self._wake_w = -1, -1
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False

    @classmethod
    def for_device(
        cls, dev: DeviceInfo, profile: Profile | None = None, driver: Driver | None = None
    ) -> HidrawTransport:
        if not dev.path.startswith("/dev/"):
            raise TransportError(f"{dev.id_text} {dev.name}: no hidraw device node to open")
        return cls(dev.path, descriptor=dev.descriptor)

    def _learn(self, raw: bytes) -> None:
        try:
            desc = parse_descriptor(raw)
        except DescriptorError:
            return
        if self._numbered is None:
            self._numbered = desc.numbered
        for kind in ("output", "feature"):
            report = desc.report(kind, 0)
            if report is not None:
                self._sizes[kind] = report.size

    @property
    def numbered(self) -> bool:
        if self._numbered is None:
            self._learn(sysfs_descriptor(self.node))
            if self._numbered is None:
                self._numbered = True  # no usable descriptor: write the bytes as the driver gave them
        return self._numbered

    def _wire_bytes(self, report: OutputReport) -> bytes:
        """hidraw wants the report number first: the id for numbered devices (already in ``data``), else 0.

        A driver may already have put the 0 in front for an unnumbered device (data one byte longer than the
        descriptor's report, starting with 0): then it is sent as it is.
        """
        data = report.data
        if self.numbered:
            return data
        size = self._sizes.get("feature" if report.transport == "feature" else "output")
        if size is not None and len(data) == size + 1 and data[0] == 0:
            return data
        return b"\x00" + data

    def open(self) -> None:
        try:
            self._fd = os.open(self.node, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TransportError(explain_open_error(self.node, exc), gone=exc.errno == errno.ENOENT) from None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._closed = False

    def read(self, timeout: float | None) -> bytes | None:
        with self._lock:
            if self._fd is None or self._closed:
                return None
            self._reading = True
        try:
            return self._read(self._fd, timeout)
        finally:
            with self._lock:
                self._reading = False
                if self._closed:
                    self._release()  # close() came while we were in select(): the fds are ours to close

    def _read(self, fd: int, timeout: float | None) -> bytes | None:
        ready, _, _ = select.select([fd, self._wake_r], [], [], timeout)
        if self._closed or not ready:
            return None
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 512)  # consume the wake-ups; the report (if any) waits for the next read
            except BlockingIOError:
                pass
            return None
        try:
            return os.read(fd, MAX_REPORT)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise TransportError(f"{self.node}: read failed ({exc.strerror})", gone=exc.errno in GONE_ERRNOS) from None

    def write(self, report: OutputReport) -> None:
        fd = self._fd
        if fd is None or self._closed:
            raise TransportError(f"{self.node}: not open")
        data = self._wire_bytes(report)
        try:
            if report.transport == "feature":
                fcntl.ioctl(fd, hidiocsfeature(len(data)), bytearray(data))
            elif report.transport == "hidraw":
                os.write(fd, data)
            else:
                raise TransportError(f"{self.node}: hidraw cannot do a {report.transport!r} write")
        except OSError as exc:
            raise TransportError(f"{self.node}: write failed ({exc.strerror})", gone=exc.errno in GONE_ERRNOS) from None

    def wake(self) -> None:
        """Any thread: the pending read (or the next one) returns None at once."""
        with self._lock:
            if self._closed or self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"w")
            except BlockingIOError:
                pass  # the pipe is full of wake-ups already

    def close(self) -> None:
        """Idempotent, any thread: wakes a blocked read, which then closes the node on its way out."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reading and self._wake_w >= 0:
                os.write(self._wake_w, b"x")
            else:
                self._release()

    def _release(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd, self._wake_r, self._wake_w = None, -1, -1

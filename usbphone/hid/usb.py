"""pyusb transport for vendor-protocol phones (Yealink 6993:b001, CM109 0d8c:000e) that the kernel's usbhid ignores.

open(): find the device by VID/PID (and bus/address from its /dev/bus/usb node when known), pick its HID-class
interface (or the profile's interface number), detach a bound kernel driver (``yealink``, ``cm109``,
``usbhid``) when allowed and claim the interface; close() releases it and re-attaches what was detached.
Writes: ``control`` = HID SET_REPORT (bmRequestType 0x21, bRequest 0x09, wValue 0x0200 Output report,
wIndex = interface), ``feature`` = the same with wValue 0x0300; ``interrupt`` = the interrupt OUT endpoint.
Reads: the interrupt IN endpoint with a timeout. Busy, permission and unplug errors become one readable
TransportError naming the driver or the permission and the fix.

source: ../shared/protocols/usb-phone-protocols.md §2.2 (Yealink control/interrupt transfers), §3.2 (CM109).
Emulated tests drive this module with a fake pyusb device around the protocol simulators (tests/test_usb_transport.py);
real libusb I/O is not reached by the test suite. Edit this module when the USB plumbing changes.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from usbphone.drivers.base import OutputReport
from usbphone.hid.transport import TransportError

SET_REPORT = 0x09  # HID class request; source: §2.2 (bRequest 0x09)
REQ_OUT = 0x21  # class, interface, host->device; source: §2.2
REPORT_OUTPUT = 0x0200  # wValue high byte 2 = Output report; source: §2.2, §3.2
REPORT_FEATURE = 0x0300  # wValue high byte 3 = Feature report; source: HID 1.11 §7.2.2 Set_Report
HID_CLASS = 3  # bInterfaceClass of a HID interface; source: HID 1.11 §4.1
WRITE_TIMEOUT_MS = 1000  # our choice: a phone that takes longer than 1 s for a write is gone
READ_SLICE = 0.2  # seconds per blocking read slice, so close() is noticed
_NODE = re.compile(r"/dev/bus/usb/(\d+)/(\d+)$")

Finder = Callable[[int, int, int | None, int | None, str], Any]


def _pyusb_find(vid: int, pid: int, bus: int | None, address: int | None, serial: str) -> Any:
    import usb.core

    def match(dev: Any) -> bool:
        if bus is not None and (dev.bus, dev.address) != (bus, address):
            return False
        if serial and bus is None:
            try:
                return str(dev.serial_number or "") == serial
            except (ValueError, usb.core.USBError):
                return False
        return True

    try:
        return usb.core.find(idVendor=vid, idProduct=pid, custom_match=match)
    except usb.core.NoBackendError:
        raise TransportError(
            "libusb-1.0 was not found, so USB phones cannot be opened: install it (apt-get install libusb-1.0-0)"
        ) from None


def kernel_driver_name(dev: Any, interface: int) -> str:
    """The kernel driver bound to ``interface`` (from sysfs), or "" when unknown."""
    try:
        ports = ".".join(str(p) for p in (dev.port_numbers or ()))
        cfg = dev.get_active_configuration().bConfigurationValue
        link = f"/sys/bus/usb/devices/{dev.bus}-{ports}:{cfg}.{interface}/driver"
        return os.path.basename(os.readlink(link))
    except Exception:  # sysfs missing (containers, emulation) or device gone: the name is only for messages
        return ""


def explain(exc: BaseException, what: str, driver_name: str = "") -> TransportError:
    """One readable sentence (with the fix) for a USB error."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return TransportError(
            f"no permission to open {what}: install usbphone's udev rules (`usbphone install`, or copy "
            "udev/70-usbphone.rules to /etc/udev/rules.d and replug) so the logged-in user gets access, or run as root"
        )
    if code == errno.EBUSY:
        drv = driver_name or "another program or kernel driver"
        fix = (f"unload it (sudo modprobe -r {driver_name}) or blacklist it (echo 'blacklist {driver_name}' | "
               "sudo tee /etc/modprobe.d/usbphone.conf)") if driver_name else "close the other program using it"
        return TransportError(f"{what} is in use by {drv} and could not be taken over: {fix}")
    if code in (errno.ENODEV, errno.ENOENT, errno.EIO, errno.EPIPE) or "No such device" in str(exc):
        return TransportError(f"{what} was unplugged or stopped answering ({exc})", gone=True)
    return TransportError(f"{what}: USB error: {exc}")


class UsbTransport:
    """The Transport seam over pyusb for one device interface."""

    def __init__(
        self,
        vid: int,
        pid: int,
        *,
        bus: int | None = None,
        address: int | None = None,
        serial: str = "",
        interface: int | None = None,
        detach: bool = True,
        on_packet_size: Callable[[int], None] | None = None,
        write_gap: Callable[[], float] | None = None,
        finder: Finder = _pyusb_find,
    ) -> None:
        self.vid, self.pid, self.bus, self.address, self.serial = vid, pid, bus, address, serial
        self.interface = interface
        self.detach = detach
        self.on_packet_size = on_packet_size
        self.write_gap = write_gap or (lambda: 0.0)
        self.finder = finder
        self.what = f"USB device {vid:04x}:{pid:04x}" + (f" (bus {bus} address {address})" if bus else "")
        self.dev: Any = None
        self.ep_in: Any = None
        self.ep_out: Any = None
        self.in_packet_size = 0
        self.detached_driver = ""
        self._closed = threading.Event()
        self._io = threading.Lock()
        self._last_write = 0.0

    @classmethod
    def for_device(cls, dev: Any, profile: Any, driver: Any) -> UsbTransport:
        """Build from a DeviceInfo (path /dev/bus/usb/BBB/DDD), its profile and its driver."""
        m = _NODE.search(dev.path or "")
        rule = profile.best_rule(dev) if profile is not None else None
        interface = rule.interface if rule is not None and rule.interface is not None else dev.interface
        quirks = profile.quirks if profile is not None else {}
        return cls(
            dev.vid, dev.pid, bus=int(m.group(1)) if m else None, address=int(m.group(2)) if m else None,
            serial=dev.serial, interface=interface, detach=bool(quirks.get("detach_kernel_driver", True)),
            on_packet_size=getattr(driver, "set_packet_size", None),
            write_gap=lambda: float(getattr(driver, "write_gap", 0.0)),
        )

    # -- open/close ----------------------------------------------------------------------------------
    def open(self) -> None:
        import usb.core

        self._closed.clear()
        dev = self.finder(self.vid, self.pid, self.bus, self.address, self.serial)
        if dev is None:
            raise TransportError(f"{self.what} is not attached", gone=True)
        number: int | None = None
        try:
            intf = self._pick_interface(dev)
            number = intf.bInterfaceNumber
            if dev.is_kernel_driver_active(number):
                name = kernel_driver_name(dev, number)
                if not self.detach:
                    fix = f"unload it (sudo modprobe -r {name})" if name else "unload that kernel module"
                    raise TransportError(
                        f"{self.what} interface {number} is bound to {name or 'a kernel driver'} and detaching is "
                        f"switched off (quirk detach_kernel_driver = false): {fix}"
                    )
                try:
                    dev.detach_kernel_driver(number)
                except usb.core.USBError as exc:
                    raise explain(exc, f"{self.what} interface {number}", name) from None
                self.detached_driver = name or "kernel driver"  # non-empty: re-attach on close
            _claim(dev, number)
        except usb.core.USBError as exc:
            self._give_back(dev, number)
            raise explain(exc, self.what) from None
        self.dev, self.interface = dev, number
        self.ep_in, self.ep_out = _endpoints(intf)
        if self.ep_in is None:
            self.close()
            raise TransportError(f"{self.what} interface {number} has no interrupt IN endpoint")
        self.in_packet_size = int(self.ep_in.wMaxPacketSize)
        if self.on_packet_size is not None:
            self.on_packet_size(self.in_packet_size)  # Yealink: 16 = G1, 8 = G2 (§2.1)

    def _pick_interface(self, dev: Any) -> Any:
        cfg = dev.get_active_configuration()
        hid = [i for i in cfg if i.bAlternateSetting == 0 and i.bInterfaceClass == HID_CLASS]
        for intf in cfg:
            if self.interface is not None and intf.bInterfaceNumber == self.interface and intf.bAlternateSetting == 0:
                return intf
        if not hid:
            raise TransportError(f"{self.what} has no HID interface")
        return hid[0]

    def close(self) -> None:
        if self._closed.is_set() and self.dev is None:
            return
        self._closed.set()
        with self._io:
            dev, self.dev = self.dev, None
        if dev is None:
            return
        try:
            _release(dev, self.interface)
        except Exception:  # unplugged meanwhile: nothing to release
            pass
        self._give_back(dev, self.interface)

    def _give_back(self, dev: Any, number: int | None) -> None:
        """Re-attach the kernel driver we detached (on close, or when claiming failed after the detach)."""
        try:
            if self.detached_driver and number is not None:
                dev.attach_kernel_driver(number)
        except Exception:  # unplugged meanwhile: nothing to give back
            pass
        finally:
            self.detached_driver = ""

    # -- I/O -----------------------------------------------------------------------------------------
    def read(self, timeout: float | None) -> bytes | None:
        import usb.core

        end = None if timeout is None else time.monotonic() + timeout
        while not self._closed.is_set():
            left = READ_SLICE if end is None else min(READ_SLICE, end - time.monotonic())
            if left <= 0:
                return None
            dev = self.dev
            if dev is None:
                return None
            try:
                data = dev.read(self.ep_in.bEndpointAddress, self.in_packet_size, max(1, int(left * 1000)))
                return bytes(data)
            except usb.core.USBTimeoutError:
                continue
            except usb.core.USBError as exc:
                if self._closed.is_set():
                    return None
                raise explain(exc, self.what) from None
        return None

    def write(self, report: OutputReport) -> None:
        import usb.core

        dev = self.dev
        if dev is None:
            raise TransportError(f"{self.what} is not open", gone=True)
        gap = self.write_gap() - (time.monotonic() - self._last_write)
        if gap > 0:
            time.sleep(gap)  # G2 Yealink phones need >= 25 ms between commands (§2.2)
        try:
            with self._io:
                if report.transport in ("control", "feature"):
                    value = REPORT_OUTPUT if report.transport == "control" else REPORT_FEATURE
                    dev.ctrl_transfer(REQ_OUT, SET_REPORT, value, self.interface, report.data, WRITE_TIMEOUT_MS)
                elif report.transport == "interrupt" and self.ep_out is not None:
                    dev.write(self.ep_out.bEndpointAddress, report.data, WRITE_TIMEOUT_MS)
                else:
                    raise TransportError(f"{self.what} cannot take a {report.transport!r} write")
        except usb.core.USBError as exc:
            raise explain(exc, self.what) from None
        finally:
            self._last_write = time.monotonic()


def _endpoints(intf: Any) -> tuple[Any, Any]:
    ep_in = ep_out = None
    for ep in intf.endpoints():
        if ep.bmAttributes & 0x03 != 0x03:  # interrupt transfer type
            continue
        if ep.bEndpointAddress & 0x80:
            ep_in = ep_in or ep
        else:
            ep_out = ep_out or ep
    return ep_in, ep_out


def _claim(dev: Any, number: int) -> None:
    import usb.util

    usb.util.claim_interface(dev, number)


def _release(dev: Any, number: int | None) -> None:
    import usb.util

    if number is not None:
        usb.util.release_interface(dev, number)
    usb.util.dispose_resources(dev)

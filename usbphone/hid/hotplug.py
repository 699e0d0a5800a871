"""Hotplug: a pyudev monitor thread that turns udev add/remove events into attach/detach notices.

The thread only enqueues (``emit`` is the app's ``queue.put``); it never opens devices, touches a Phone or
calls pjsua2. On any hidraw/usb/tty uevent it waits a moment for the burst of events one plug produces to
settle, re-runs discovery (usbphone.hid.discovery, the same code `usbphone devices` uses) and diffs the set of
attached devices, so a notice is emitted once per device however many uevents arrive, and a removed device is
reported from what was known about it (its sysfs parents are already gone at "remove").

After a suspend/resume (seen as CLOCK_BOOTTIME running ahead of CLOCK_MONOTONIC) every known device is
reported detached and attached again, so the app reopens handles that went stale (FM10) even when the
kernel did not re-enumerate the device.

Devices are identified by kind + VID:PID + serial + USB port path (+ interface), never by the hidraw number
or USB device number, which change on every replug (source: ../shared/reliability-bar.md FM10); the same
handset replugged into the same port, or any port when it has a serial number, has the same ``key``.

Edit this module when the notice format or the identity rule changes; the app decides what a notice does.
"""

from __future__ import annotations

import logging
import os
import re
import select
import threading
import time
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Any

from usbphone.hid.discovery import Found, discover
from usbphone.profiles import Profile

log = logging.getLogger(__name__)

SUBSYSTEMS = ("hidraw", "usb", "tty")
SETTLE_S = 0.1  # quiet time after a uevent before rescanning: one plug emits usb, interface, hid, hidraw…
MAX_SETTLE_S = 1.0  # rescan at the latest this long after the first uevent of a burst
RESUME_CHECK_S = 5.0  # how often the idle monitor looks whether the machine was suspended
RESUME_MIN_S = 2.0  # a gap this long between CLOCK_BOOTTIME and CLOCK_MONOTONIC counts as a suspend
_INSTANCE = re.compile(r"\.[0-9A-F]{4}$")  # the ".0001" instance suffix of a hid device's kernel name


@dataclass(frozen=True)
class DeviceIdentity:
    """What makes a handset the same handset across replugs and re-enumeration."""

    kind: str  # hidraw | usb | tty (the node the transport opens)
    vid: int
    pid: int
    serial: str = ""
    port: str = ""  # USB path such as "1-2.3" (sysfs name of the USB device), or the HID phys for non-USB
    interface: int | None = None

    @property
    def key(self) -> str:
        where = f"sn={self.serial}" if self.serial else f"port={self.port}"
        iface = "" if self.interface is None else f":if{self.interface}"
        return f"{self.kind}:{self.vid:04x}:{self.pid:04x}:{where}{iface}"


@dataclass(frozen=True)
class HotplugNotice:
    """One device appeared (``attached``) or went away (``detached``); ``found`` is discovery's view of it."""

    action: str  # attached | detached
    identity: DeviceIdentity
    found: Found
    t: float

    @property
    def node(self) -> str:
        return self.found.info.path


Emit = Callable[[HotplugNotice], None]


def _ports(context: Any) -> dict[str, tuple[str, str]]:
    """device node -> (USB port path, non-USB fallback) for every hidraw/usb/tty node."""
    out: dict[str, tuple[str, str]] = {}
    for subsystem in SUBSYSTEMS:
        for dev in context.list_devices(subsystem=subsystem):
            node = dev.device_node
            if not node:
                continue
            usb = dev if dev.device_type == "usb_device" else dev.find_parent("usb", "usb_device")
            fallback = ""
            hid = dev.find_parent("hid")
            if hid is not None:  # uhid/Bluetooth: the hid device's kernel name without its instance number
                fallback = hid.properties.get("HID_PHYS", "") or _INSTANCE.sub("", hid.sys_name)
            out[node] = (usb.sys_name if usb is not None else "", fallback)
    return out


def identify(found: Found, ports: dict[str, tuple[str, str]]) -> DeviceIdentity:
    info = found.info
    usb_port, fallback = ports.get(info.path, ("", ""))
    return DeviceIdentity(
        kind=found.kind,
        vid=info.vid,
        pid=info.pid,
        serial=info.serial,
        port=usb_port or info.phys or fallback or info.path,
        interface=info.interface,
    )


def scan(profiles: list[Profile], context: Any) -> dict[str, tuple[DeviceIdentity, Found]]:
    """Attached devices usbphone would drive (a profile matches, or the descriptor has the telephony page)."""
    ports = _ports(context)
    out: dict[str, tuple[DeviceIdentity, Found]] = {}
    for found in discover(profiles, context):
        if found.profile is None and 0x0B not in found.info.usage_pages:
            continue  # a keyboard or mouse: not ours
        ident = identify(found, ports)
        out[ident.key] = (ident, found)
    return out


def suspended_seconds() -> float:
    """Total time this machine has spent suspended since boot: CLOCK_BOOTTIME runs on during a suspend,
    CLOCK_MONOTONIC does not (source: clock_gettime(2))."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)


class HotplugMonitor:
    """Watches udev and calls ``emit(HotplugNotice)`` from its own thread; ``start``/``stop`` from any thread."""

    def __init__(
        self,
        profiles: list[Profile],
        emit: Emit,
        *,
        context: Any = None,
        announce_present: bool = True,
        settle: float = SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
        suspended_for: Callable[[], float] = suspended_seconds,
        resume_check: float = RESUME_CHECK_S,
    ) -> None:
        self.profiles = profiles
        self.emit = emit
        self.context = context
        self.announce_present = announce_present
        self.settle = settle
        self.clock = clock
        self.suspended_for = suspended_for
        self.resume_check = resume_check
        self.resumes = 0
        self.known: dict[str, tuple[DeviceIdentity, Found]] = {}
        self.errors = 0
        self._monitor: Any = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to udev first, then take the initial inventory, so no plug in between is lost."""
        import pyudev

        if self.context is None:
            self.context = pyudev.Context()
        self._monitor = pyudev.Monitor.from_netlink(self.context, source="udev")
        for subsystem in SUBSYSTEMS:
            self._monitor.filter_by(subsystem)
        self._monitor.start()
        self._wake_r, self._wake_w = os.pipe()
        self._slept = self.suspended_for()
        current = scan(self.profiles, self.context)
        if self.announce_present:
            self._diff(current)
        else:
            self.known = current
        self._thread = threading.Thread(target=self._loop, name="udev-hotplug", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._wake_r = self._wake_w = -1

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the thread --------------------------------------------------------------------------------
    def _drain(self, removed: set[str]) -> None:
        """Read every queued uevent; remember the nodes that were removed (a quick replug reuses them)."""
        while True:
            dev = self._monitor.poll(timeout=0)
            if dev is None:
                return
            if dev.action == "remove" and dev.device_node:
                removed.add(dev.device_node)

    def _loop(self) -> None:
        fds = [self._monitor.fileno(), self._wake_r]
        while True:
            try:
                ready, _, _ = select.select(fds, [], [], self.resume_check)
                if not ready:
                    self._check_resume()
                    continue
                removed: set[str] = set()
                deadline = self.clock() + MAX_SETTLE_S
                # let the rest of this plug's uevents arrive (bounded, so a storm cannot starve the rescan)
                while ready and self.clock() < deadline:
                    if self._wake_r in ready:
                        return
                    self._drain(removed)
                    ready, _, _ = select.select(fds, [], [], self.settle)
                self._diff(scan(self.profiles, self.context), removed)
            except Exception:  # the monitor must outlive any one bad event (or a netlink overflow)
                self.errors += 1
                log.exception("hotplug: uevent handling failed; rescanning")
                time.sleep(min(1.0, 0.05 * self.errors))
                self._rescan_quietly()

    def _rescan_quietly(self) -> None:
        """Catch up after an error: events may have been lost, the device list is the truth."""
        try:
            self._diff(scan(self.profiles, self.context))
        except Exception:  # noqa: BLE001 - logged; the next uevent or resume check tries again
            log.exception("hotplug: rescan failed")

    def _check_resume(self) -> None:
        """After a suspend, report every device detached and attached again: their handles may be stale."""
        slept = self.suspended_for()
        if slept - self._slept < RESUME_MIN_S:
            return
        self._slept = slept
        self.resumes += 1
        log.info("hotplug: resumed from suspend; reopening %d device(s)", len(self.known))
        now = self.clock()
        for ident, found in self.known.values():
            self.emit(HotplugNotice("detached", ident, found, now))
        self.known = {}
        self._diff(scan(self.profiles, self.context))

    def _diff(self, current: dict[str, tuple[DeviceIdentity, Found]], removed: Set[str] = frozenset()) -> None:
        now = self.clock()
        for key, (ident, found) in self.known.items():
            if key not in current:
                self.emit(HotplugNotice("detached", ident, found, now))
        for key, (ident, found) in current.items():
            old = self.known.get(key)
            if old is None:
                self.emit(HotplugNotice("attached", ident, found, now))
            elif old[1].info.path != found.info.path or old[1].info.path in removed:  # unplugged and back
                self.emit(HotplugNotice("detached", old[0], old[1], now))
                self.emit(HotplugNotice("attached", ident, found, now))
        self.known = current

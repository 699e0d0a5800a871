"""Hotplug scenarios run inside umockdev (``umockdev-wrapper python tests/hotplug_scenarios.py NAME``).

Each scenario plugs/unplugs emulated devices with UMockdev.Testbed (udev add/remove uevents at run time),
runs the real HotplugMonitor (pyudev + discovery) against them, and prints one JSON object per step:
``{"step": ..., "notices": [{"action", "key", "node", "profile", "after": seconds since the step}]}``.
The assertions live in tests/test_hotplug_umockdev.py. Edit to add a scenario.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from umockdev_devices import TELEPHONY_DESCRIPTOR, FakeUsbDevice  # noqa: E402

from usbphone.hid.hotplug import HotplugMonitor, HotplugNotice  # noqa: E402
from usbphone.profiles.schema import MatchRule, Profile  # noqa: E402

PROFILES = [
    Profile(id="test-yealink", name="Yealink (test)", driver="yealink", transport="pyusb",
            matches=(MatchRule(vid=0x6993, pid=0xB001),)),
]
WAIT_S = 3.0  # how long a step waits for notices (the requirement is 2 s; the test checks "after")


class FakeSleep:
    """Stands in for suspended_seconds(): the test "suspends" the machine by adding to it."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self) -> float:
        return self.total


class Bench:
    def __init__(self, announce_present: bool = True) -> None:
        self.sleep = FakeSleep()
        self.tb = UMockdev.Testbed.new()
        self.q: queue.Queue[HotplugNotice] = queue.Queue()
        self.t0 = time.monotonic()
        self.announce_present = announce_present
        self.monitor: HotplugMonitor | None = None

    def start(self) -> None:
        self.monitor = HotplugMonitor(PROFILES, self.q.put, announce_present=self.announce_present,
                                      suspended_for=self.sleep, resume_check=0.2)
        self.monitor.start()

    def plug(self, dev: FakeUsbDevice) -> None:
        self.tb.add_from_string(dev.description())
        for path in _paths(dev):
            self.tb.uevent("/sys" + path, "add")

    def unplug(self, dev: FakeUsbDevice) -> None:
        for path in reversed(_paths(dev)):  # children first, as the kernel does
            self.tb.uevent("/sys" + path, "remove")
            self.tb.remove_device("/sys" + path)

    def step(self, name: str, action: Any = None, expect: int = 1) -> None:
        t = time.monotonic()
        if action is not None:
            action()
        notices = []
        deadline = t + WAIT_S
        while len(notices) < expect and time.monotonic() < deadline:
            try:
                n = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            notices.append(_row(n, time.monotonic() - t))
        time.sleep(0.3)  # anything extra (duplicates) shows up here
        while not self.q.empty():
            notices.append(_row(self.q.get_nowait(), time.monotonic() - t))
        print(json.dumps({"step": name, "notices": notices}), flush=True)

    def finish(self) -> None:
        before = threading.active_count()
        assert self.monitor is not None
        self.monitor.stop()
        print(json.dumps({"step": "stopped", "alive": self.monitor.alive, "threads_before": before,
                          "threads_after": threading.active_count(), "errors": self.monitor.errors}), flush=True)


def _paths(dev: FakeUsbDevice) -> list[str]:
    paths = [dev.usb_syspath, dev.interface_syspath]
    if dev.kind == "hidraw":
        paths += [f"{dev.interface_syspath}/{dev.hid_name}", dev.hidraw_syspath]
    return paths


def _row(n: HotplugNotice, after: float) -> dict[str, Any]:
    return {"action": n.action, "key": n.identity.key, "node": n.node,
            "profile": n.found.profile.id if n.found.profile else None, "after": round(after, 3)}


def headset(**kw: Any) -> FakeUsbDevice:
    return FakeUsbDevice(0x0B0E, 0x0307, descriptor=TELEPHONY_DESCRIPTOR, **kw)


def replug() -> None:
    b = Bench()
    b.start()
    first = headset(serial="J1", hidraw="hidraw0", instance=1)
    b.step("plug", lambda: b.plug(first))
    b.step("unplug", lambda: b.unplug(first))
    again = headset(serial="J1", hidraw="hidraw3", instance=5, port="1-4", devnum=7)  # new numbers, other port
    b.step("replug", lambda: b.plug(again))
    b.finish()


def no_serial() -> None:
    b = Bench()
    b.start()
    dev = headset(port="1-2", hidraw="hidraw0")
    b.step("plug", lambda: b.plug(dev))
    b.step("unplug", lambda: b.unplug(dev))
    # umockdev 0.17 cannot re-create a node name in one testbed; a real kernel gives new numbers anyway
    same_port = headset(port="1-2", hidraw="hidraw7", instance=9, devnum=5)
    b.step("replug same port", lambda: b.plug(same_port))
    b.step("unplug again", lambda: b.unplug(same_port))
    b.step("replug other port", lambda: b.plug(headset(port="1-3", hidraw="hidraw8", devnum=6)))
    b.finish()


def two_handsets() -> None:
    b = Bench()
    b.start()
    one = headset(serial="A", port="1-2", hidraw="hidraw0")
    two = FakeUsbDevice(0x6993, 0xB001, kind="usb", port="1-3", devnum=3, driver="yealink")
    b.step("plug both", lambda: (b.plug(one), b.plug(two)), expect=2)
    b.step("unplug the yealink", lambda: b.unplug(two))
    keyboard = FakeUsbDevice(0x046D, 0xC31C, port="1-5", hidraw="hidraw5", descriptor=bytes.fromhex("05010906A101C0"))
    b.step("plug a keyboard", lambda: b.plug(keyboard), expect=0)
    b.finish()


def coldplug() -> None:
    b = Bench()
    present = headset(serial="C1")
    b.plug(present)
    b.step("start with it plugged", b.start)
    b.step("unplug", lambda: b.unplug(present))
    b.finish()


def resume() -> None:
    b = Bench()
    dev = headset(serial="R1")
    b.plug(dev)
    b.step("start", b.start)
    b.step("idle, no suspend", expect=0)

    def suspend_for_a_minute() -> None:
        b.sleep.total += 60.0

    b.step("resume", suspend_for_a_minute, expect=2)
    b.step("unplug", lambda: b.unplug(dev))
    b.finish()


def flaky_scan() -> None:
    import usbphone.hid.hotplug as hotplug

    real_scan, calls = hotplug.scan, []

    def scan_failing_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the first rescan after start: as if sysfs vanished under our feet
            raise OSError("simulated sysfs read error")
        return real_scan(*args)

    hotplug.scan = scan_failing_once
    b = Bench()
    b.start()
    dev = headset(serial="F1")
    b.step("plug during a failing scan", lambda: b.plug(dev))
    b.step("unplug", lambda: b.unplug(dev))
    assert b.monitor is not None
    b.monitor.stop()
    print(json.dumps({"step": "stopped", "alive": b.monitor.alive, "errors": b.monitor.errors}), flush=True)


SCENARIOS = {f.__name__: f for f in (replug, no_serial, two_handsets, coldplug, resume, flaky_scan)}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()

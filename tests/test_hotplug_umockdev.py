"""Hotplug under umockdev: plug, unplug, replug, two handsets, coldplug, seen by the real pyudev monitor.

Each scenario (tests/hotplug_scenarios.py) runs in a child process under ``umockdev-wrapper``, which fakes
/sys, /dev and udev's netlink events for libudev; the HotplugMonitor thread and discovery run unmodified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from umockdev_devices import umockdev_available  # noqa: E402

pytestmark = [
    pytest.mark.umockdev,
    pytest.mark.skipif(not umockdev_available(), reason="needs umockdev (Debian packages umockdev, "
                                                         "gir1.2-umockdev-1.0, python3-gi)"),
]
SCRIPT = Path(__file__).with_name("hotplug_scenarios.py")
DEADLINE_S = 2.0  # a plugged handset is announced within 2 s (issue 7)


def run_scenario(name: str) -> dict[str, Any]:
    try:
        import gi

        gi.require_version("UMockdev", "1.0")
    except (ImportError, ValueError) as exc:
        pytest.skip(f"UMockdev GI bindings not importable: {exc}")
    env = {**os.environ, "USBPHONE_DEVICES": "", "XDG_CONFIG_HOME": "/nonexistent"}
    proc = subprocess.run(["umockdev-wrapper", sys.executable, str(SCRIPT), name], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {s["step"]: s for s in steps}


def _only(step: dict[str, Any], action: str) -> dict[str, Any]:
    notices = step["notices"]
    assert len(notices) == 1, notices
    assert notices[0]["action"] == action, notices
    assert notices[0]["after"] < DEADLINE_S, notices
    return notices[0]


def _clean_stop(steps: dict[str, Any]) -> None:
    stopped = steps["stopped"]
    assert stopped["alive"] is False
    assert stopped["threads_after"] == stopped["threads_before"] - 1  # the monitor thread is gone, nothing else
    assert stopped["errors"] == 0


def test_plug_unplug_replug_keeps_identity() -> None:
    steps = run_scenario("replug")
    plugged = _only(steps["plug"], "attached")
    assert plugged["node"] == "/dev/hidraw0"
    assert plugged["key"] == "hidraw:0b0e:0307:sn=J1:if3"  # serial number: stable in any port
    gone = _only(steps["unplug"], "detached")
    assert gone["key"] == plugged["key"]
    back = _only(steps["replug"], "attached")
    assert back["node"] == "/dev/hidraw3"  # a new hidraw number…
    assert back["key"] == plugged["key"]  # …same handset
    _clean_stop(steps)


def test_identity_without_serial_is_the_usb_port() -> None:
    steps = run_scenario("no_serial")
    first = _only(steps["plug"], "attached")
    assert first["key"] == "hidraw:0b0e:0307:port=1-2:if3"
    _only(steps["unplug"], "detached")
    assert _only(steps["replug same port"], "attached")["key"] == first["key"]
    _only(steps["unplug again"], "detached")
    other = _only(steps["replug other port"], "attached")
    assert other["key"] == "hidraw:0b0e:0307:port=1-3:if3"
    _clean_stop(steps)


def test_two_handsets_and_a_keyboard() -> None:
    steps = run_scenario("two_handsets")
    both = steps["plug both"]["notices"]
    assert sorted((n["action"], n["key"], n["profile"]) for n in both) == [
        ("attached", "hidraw:0b0e:0307:sn=A:if3", None),  # generic telephony headset (descriptor page 0x0B)
        ("attached", "usb:6993:b001:port=1-3", "test-yealink"),  # pyusb handset: the USB device node
    ]
    assert all(n["after"] < DEADLINE_S for n in both)
    gone = _only(steps["unplug the yealink"], "detached")
    assert gone["key"] == "usb:6993:b001:port=1-3" and gone["node"] == "/dev/bus/usb/001/003"
    assert steps["plug a keyboard"]["notices"] == []  # not a phone: no notice
    _clean_stop(steps)


def test_coldplugged_handset_is_announced_at_start() -> None:
    steps = run_scenario("coldplug")
    present = _only(steps["start with it plugged"], "attached")
    assert present["key"] == "hidraw:0b0e:0307:sn=C1:if3"
    assert _only(steps["unplug"], "detached")["key"] == present["key"]
    _clean_stop(steps)


def test_resume_from_suspend_reopens_known_devices() -> None:
    steps = run_scenario("resume")
    first = _only(steps["start"], "attached")
    assert steps["idle, no suspend"]["notices"] == []  # the periodic check alone changes nothing
    again = steps["resume"]["notices"]
    assert [(n["action"], n["key"]) for n in again] == [("detached", first["key"]), ("attached", first["key"])]
    assert all(n["after"] < DEADLINE_S for n in again)
    assert _only(steps["unplug"], "detached")["key"] == first["key"]
    _clean_stop(steps)


def test_a_failing_rescan_is_caught_up() -> None:
    steps = run_scenario("flaky_scan")
    plugged = _only(steps["plug during a failing scan"], "attached")  # found by the catch-up rescan
    assert plugged["key"] == "hidraw:0b0e:0307:sn=F1:if3"
    assert _only(steps["unplug"], "detached")["key"] == plugged["key"]
    assert steps["stopped"]["errors"] == 1 and steps["stopped"]["alive"] is False

"""`usbphone record` of a vendor-protocol phone: the profile's driver polls it as `usbphone run` would, both
directions go into the trace (``E:`` replies, ``# O:`` host writes with their transport), and the recording
replays to the keys pressed. The phone is the protocol simulator behind the transport seam (the only mock:
USB hardware)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from usbphone.commands.record import record
from usbphone.commands.replay import replay_events
from usbphone.hid.discovery import Found
from usbphone.hid.simulators.base import SimulatedDevice
from usbphone.hid.simulators.cm109 import CM109Simulator
from usbphone.hid.simulators.yealink import YealinkSimulator
from usbphone.hid.trace import parse_trace
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo


def press_later(sim: SimulatedDevice, press: Callable[[], None], release: Callable[[], None]) -> threading.Thread:
    def act() -> None:
        if not sim.closed:
            press()
        threading.Event().wait(0.4)
        if not sim.closed:
            release()

    timer = threading.Timer(0.6, act)
    timer.start()
    return timer


@pytest.mark.parametrize("kind", ["yealink", "cm109"])
def test_record_a_polled_phone_and_replay_it(tmp_path: Path, kind: str) -> None:
    if kind == "yealink":
        sim: SimulatedDevice = YealinkSimulator("p1k")
        ids, profile, code, first_write = (0x6993, 0xB001), "yealink-usb-p1k", 0x11, "87 02"  # VERSION, size 2
    else:
        sim = CM109Simulator()
        ids, profile, code, first_write = (0x0D8C, 0x000E), "cm109-usb-phone", 0x22, "00 0f 0f 00"  # idle columns
    info = DeviceInfo(vid=ids[0], pid=ids[1], name=f"{kind} phone", path="/dev/bus/usb/001/007")
    found = Found(info, "usb", profile_by_id(profile), True, "read/write ok")
    timer = press_later(sim, lambda: sim.press(code), sim.release)  # type: ignore[attr-defined]
    out = io.StringIO()
    try:
        n = record(found, out, duration=2.0, count=None, show=False, opener=lambda f, d: sim)
    finally:
        timer.cancel()
    trace = parse_trace(out.getvalue(), "rec.hid")
    assert n == len(trace.inputs) > 0 and sim.closed
    assert (trace.vid, trace.pid, trace.descriptor) == (ids[0], ids[1], b"")
    assert trace.outputs[0].data.hex(" ").startswith(first_write) and trace.outputs[0].transport == "control"
    times = [r.t for r in trace.reports]
    assert times == sorted(times) and times[-1] < 3.0
    (tmp_path / "rec.hid").write_text(out.getvalue())
    events, _ = replay_events(str(tmp_path / "rec.hid"))
    assert [str(e) for e in events if e.kind != "hook"] == ["key 5", "key_up 5"]

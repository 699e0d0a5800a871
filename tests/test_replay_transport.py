"""ReplayTransport: honours trace timing (scaled), returns None on read timeouts, is interrupted by close(),
and drives the real DeviceRunner + driver path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from usbphone.drivers.base import OutputReport
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.open import device_info_from_trace, select_driver
from usbphone.hid.replay import ReplayTransport
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.trace import Trace, TraceReport, load_trace

GN_REPORTS = [(0.0, b"\x03\x00"), (0.5, b"\x03\x01"), (1.0, b"\x03\x05"), (1.1, b"\x03\x01"), (2.0, b"\x03\x00")]


def plain_trace() -> Trace:
    base = load_trace(Path(__file__).resolve().parents[1] / "devices/generic/traces/no-profile-headset.hid")
    base.reports = [TraceReport(t, d) for t, d in GN_REPORTS]
    return base


def test_realtime_replay_through_the_runner_keeps_timing() -> None:
    trace = plain_trace()
    transport = ReplayTransport(trace, speed=4.0)
    _, driver = select_driver(device_info_from_trace(trace))
    events: list[HandsetEvent] = []
    runner = DeviceRunner(driver, transport, events.append, clock=transport.clock)
    start = time.monotonic()
    runner.start()
    assert transport.drained.wait(10)
    elapsed = time.monotonic() - start
    assert runner.send(HandsetCommand("led", "on", target="off_hook")) == [OutputReport(b"\x03\x01")]
    runner.stop()
    assert 0.4 <= elapsed < 5.0  # 2 s of trace at 4x
    assert [str(e) for e in events] == ["hook off", "button mute", "hook on"]
    assert [round(e.t, 1) for e in events] == [0.5, 1.0, 2.0]  # trace seconds, not wall seconds
    assert transport.written == [OutputReport(b"\x03\x01"), OutputReport(b"\x03\x00")]  # command, then stop()


def test_read_timeout_and_close_interrupt() -> None:
    trace = plain_trace()
    trace.reports = [TraceReport(0.0, b"\x03\x00"), TraceReport(30.0, b"\x03\x01")]
    transport = ReplayTransport(trace)
    transport.open()
    assert transport.read(None) == b"\x03\x00"
    start = time.monotonic()
    assert transport.read(0.1) is None  # next report is 30 s away
    assert time.monotonic() - start < 2.0
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(transport.read(None)))
    reader.start()
    time.sleep(0.1)
    transport.close()
    reader.join(2)
    assert not reader.is_alive() and got == [None] and transport.remaining == 1


def test_fast_mode_hands_out_everything_then_drains() -> None:
    transport = ReplayTransport(plain_trace(), fast=True)
    transport.open()
    got = [transport.read(None) for _ in GN_REPORTS]
    assert got == [d for _, d in GN_REPORTS] and transport.clock() == 2.0
    assert not transport.drained.is_set()
    assert transport.read(0.05) is None and transport.drained.is_set()

"""DeviceRunner: a command that gives an idle driver something timed to do (an LED told to blink while the
reader waits for input with no timeout) wakes the reader through the transport's ``wake()``, so the LED
blinks although the headset sends nothing. The headset is the project's GN-style trace descriptor behind an
idle transport (the only mock: USB hardware that stays silent)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from usbphone.drivers.base import OutputReport
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.open import device_info_from_trace, select_driver
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.trace import load_trace

ROOT = Path(__file__).resolve().parents[1]


class SilentHeadset:
    """Never reports; read(None) blocks until wake() or close(); remembers writes and read timeouts."""

    def __init__(self, wakeable: bool) -> None:
        self.writes: list[tuple[float, bytes]] = []
        self.timeouts: list[float | None] = []
        self._event = threading.Event()
        self._closed = threading.Event()
        if wakeable:
            self.wake = self._event.set

    def open(self) -> None: ...

    def read(self, timeout: float | None) -> bytes | None:
        self.timeouts.append(timeout)
        self._event.wait(timeout if timeout is not None else 30.0)
        self._event.clear()
        return None  # silent: woken, timed out or closed, there is never a report

    def write(self, report: OutputReport) -> None:
        self.writes.append((time.monotonic(), report.data))

    def close(self) -> None:
        self._closed.set()
        self._event.set()


def run_blink(wakeable: bool) -> SilentHeadset:
    trace = load_trace(ROOT / "devices/jabra-gn/traces/gn-call-keypad.hid")
    _, driver = select_driver(device_info_from_trace(trace))
    headset = SilentHeadset(wakeable)
    events: list[HandsetEvent] = []
    runner = DeviceRunner(driver, headset, events.append)
    runner.start()
    try:
        time.sleep(0.2)
        assert headset.timeouts == [None]  # idle: the reader waits for input with no timeout
        runner.send(HandsetCommand("led", "blink", target="mute"))
        time.sleep(1.4)
    finally:
        runner.stop()
    assert not runner.error and events == []
    return headset


def test_blink_command_wakes_an_idle_reader() -> None:
    headset = run_blink(wakeable=True)
    writes = [data for _, data in headset.writes]
    assert len(writes) >= 3, writes  # lit, then switched at 0.5 s and 1.0 s with no input at all
    assert writes[0] != writes[1] and writes[0] == writes[2]
    gaps = [b - a for (a, _), (b, _) in zip(headset.writes[:2], headset.writes[1:3], strict=True)]
    assert all(0.4 <= g <= 0.8 for g in gaps), gaps


def test_without_wake_the_next_report_is_waited_for() -> None:
    headset = run_blink(wakeable=False)
    assert len(headset.writes) == 2  # lit by the command; the goodbye write turns it off at stop

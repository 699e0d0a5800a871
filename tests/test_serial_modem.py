"""Modem-control-line handsets: debounce, rotary pulse counting, hook flash and hang-up timing, buttons and the
ringer line, from an injectable line source (a pty cannot drive CTS/DSR/DCD/RI), through the real
SerialTransport (modem mode) and DeviceRunner."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator

import pytest

from usbphone.drivers.serial_modem import SerialModemDriver
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.serial import SerialTransport
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo, ProfileError

HOOK, CTS = 0x04, 0x01  # DCD closed = off hook; CTS = recall button (devices/serial-rotary-hook)


def driver(**options: object) -> SerialModemDriver:
    prof = profile_by_id("serial-rotary-hook")
    opts = {**prof.options, **options}
    SerialModemDriver.validate_options(opts, "test")
    return SerialModemDriver(dataclasses.replace(prof, options=opts), DeviceInfo(vid=0x0403, pid=0x6001))


def feed(d: SerialModemDriver, changes: list[tuple[float, int]], until: float, step: float = 0.005) -> list[str]:
    """Drive the driver like the transport: a report on each change, ticks in between."""
    events: list[HandsetEvent] = []
    t, i = 0.0, 0
    while t <= until:
        if i < len(changes) and changes[i][0] <= t + 1e-9:
            events += d.decode(bytes([changes[i][1]]), changes[i][0])
            i += 1
            continue
        events += d.tick(t)
        t = round(t + step, 6)
    return [str(e) for e in events]


def pulses(start: float, digit: int, brk: float = 0.06, make: float = 0.04) -> list[tuple[float, int]]:
    out = []
    t = start
    for _ in range(digit or 10):
        out += [(round(t, 4), 0), (round(t + brk, 4), HOOK)]
        t += brk + make
    return out


@pytest.mark.parametrize("digit", range(10))
def test_each_digit_from_pulses(digit: int) -> None:
    got = feed(driver(), [(0.0, 0), (0.2, HOOK), *pulses(0.5, digit)], 2.5)
    assert got == ["hook off", f"key {digit}"]


def test_dial_number_with_bounces_and_slow_dial() -> None:
    changes = [(0.0, 0), (0.2, HOOK), (0.203, 0), (0.205, HOOK)]  # lift with contact bounce
    changes += pulses(0.5, 4)
    changes += [(0.95, 0), (0.953, HOOK)]  # a 3 ms glitch in the inter-digit pause: ignored
    changes += pulses(1.5, 2, brk=0.067, make=0.033)  # 67/33 break ratio
    changes += pulses(2.5, 9, brk=0.055, make=0.05)  # a slightly fast dial
    got = feed(driver(), changes, 4.0)
    assert got == ["hook off", "key 4", "key 2", "key 9"]


def test_flash_and_hangup_by_break_length() -> None:
    changes = [(0.0, HOOK), (0.5, 0), (0.8, HOOK), (1.5, 0)]
    got = feed(driver(), changes, 2.5)
    assert got == ["hook off", "button flash", "hook on"]  # lifted at start: reported once
    got = feed(driver(flash=False), changes, 2.5)
    assert got == ["hook off", "hook on"]


def test_buttons_on_other_lines_and_hook_polarity() -> None:
    got = feed(driver(), [(0.0, 0), (0.3, CTS), (0.5, 0)], 1.0)
    assert got == ["button flash", "button_up flash"]
    got = feed(driver(hook_asserted="on"), [(0.0, HOOK), (0.3, 0), (1.0, HOOK)], 2.0)
    assert got == ["hook off", "hook on"]


def test_too_many_pulses_and_bad_reports() -> None:
    d = driver()
    got = feed(d, [(0.0, HOOK), *pulses(0.5, 10)], 2.0)
    assert got == ["hook off", "key 0"]
    assert d.decode(b"\x00\x00", 3.0) == [] and d.stats["bad_length"] == 1
    with pytest.raises(ProfileError, match="lines.XYZ"):
        SerialModemDriver.validate_options({"lines": {"XYZ": "hook"}}, "p")
    with pytest.raises(ProfileError, match="only one line"):
        SerialModemDriver.validate_options({"lines": {"DCD": "hook", "CTS": "hook"}}, "p")


class ScriptedLines:
    """An injectable line source: levels follow a script against the monotonic clock; outputs are recorded."""

    def __init__(self, port: object, script: list[tuple[float, int]]) -> None:
        self.t0 = time.monotonic()
        self.script = script
        self.outputs: list[int] = []
        self.lock = threading.Lock()

    def levels(self) -> int:
        now = time.monotonic() - self.t0
        level = 0
        for t, bits in self.script:
            if t <= now:
                level = bits
        return level

    def set_outputs(self, bits: int) -> None:
        with self.lock:
            self.outputs.append(bits)


@pytest.fixture
def pty_path() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def test_transport_runner_and_ringer_line(pty_path: str) -> None:
    script = [(0.0, 0), (0.3, HOOK), *pulses(0.6, 2), (1.5, 0)]
    sources: list[ScriptedLines] = []

    def make(port: object) -> ScriptedLines:
        sources.append(ScriptedLines(port, script))
        return sources[-1]

    d = driver()
    transport = SerialTransport(pty_path, mode="modem", line_source=make)
    events: list[HandsetEvent] = []
    runner = DeviceRunner(d, transport, events.append, name="modem")
    runner.start()
    try:
        runner.send(HandsetCommand.parse(["ring", "on", "short"]))
        end = time.monotonic() + 6
        while [str(e) for e in events][-1:] != ["hook on"] and time.monotonic() < end:
            time.sleep(0.02)
        runner.send(HandsetCommand.parse(["ring", "off"]))
    finally:
        runner.stop()
    assert [str(e) for e in events] == ["hook off", "key 2", "hook on"]
    outs = sources[0].outputs
    assert outs[0] == 0x01 and 0x00 in outs  # RTS on, then switched by the cadence / off
    assert outs[-1] == 0x00  # ringer off at the end

"""Serial line protocol: the real SerialTransport + DeviceRunner + serial_lines driver over a pseudo-terminal
pair, with a scripted peer on the other end; busy and vanished ports give one clear error."""

from __future__ import annotations

import dataclasses
import os
import select
import time
from collections.abc import Iterator

import pytest

from usbphone.drivers.serial_lines import SerialLinesDriver
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.serial import SerialTransport
from usbphone.hid.transport import TransportError
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo, ProfileError


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # the transport opens it by name, as it would /dev/ttyUSB0
    try:
        yield master, path
    finally:
        try:
            os.close(master)
        except OSError:
            pass


def driver() -> SerialLinesDriver:
    return SerialLinesDriver(profile_by_id("serial-line-phone"), DeviceInfo(vid=0x1209, pid=0x0001))


def peer_read(master: int, timeout: float = 3.0) -> bytes:
    """What the host wrote, up to a newline (the scripted peer's ear)."""
    out = b""
    end = time.monotonic() + timeout
    while not out.endswith(b"\n") and time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            out += os.read(master, 256)
    return out


def wait_events(events: list[HandsetEvent], n: int, timeout: float = 5.0) -> list[str]:
    end = time.monotonic() + timeout
    while len(events) < n and time.monotonic() < end:
        time.sleep(0.01)
    return [str(e) for e in events]


def test_line_protocol_over_a_pty(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    d = driver()
    transport = SerialTransport.for_device(DeviceInfo(vid=0x1209, pid=0x0001, path=path),
                                           profile_by_id("serial-line-phone"), d)
    assert transport.mode == "lines" and transport.baudrate == 115200
    events: list[HandsetEvent] = []
    runner = DeviceRunner(d, transport, events.append, name="pty-phone")
    runner.start()
    try:
        runner.send(HandsetCommand.parse(["ring", "on"]))
        assert peer_read(master) == b"RING ON\n"
        # the scripted peer: CRLF and LF endings, a line split over two writes, noise, a non-UTF-8 byte
        for chunk in (b"HOOK ON\r\n", b"HOOK OFF\n", b"DIA", b"L 5\nKEY #\n", b"\xff\xfe junk\n", b"BUTTON MUTE\n",
                      b"KEYUP #\n", b"HOOK ON\n"):
            os.write(master, chunk)
            time.sleep(0.02)
        got = wait_events(events, 6)
        assert got == ["hook off", "key 5", "key #", "button mute", "key_up #", "hook on"]
        runner.send(HandsetCommand.parse(["lcd", "5551234"]))
        assert peer_read(master) == b"LCD 5551234\n"
        runner.send(HandsetCommand.parse(["led", "mute", "blink"]))
        assert peer_read(master) == b"LED mute blink\n"
    finally:
        runner.stop()
    assert d.stats["unmatched_line"] == 1
    assert not runner.error


def test_vanished_port_is_device_detached(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    d = driver()
    events: list[HandsetEvent] = []
    runner = DeviceRunner(d, SerialTransport(path, baudrate=115200), events.append)
    runner.start()
    try:
        os.write(master, b"HOOK OFF\n")
        assert wait_events(events, 1) == ["hook off"]
        os.close(master)  # the peer goes away (the adapter was unplugged)
        got = wait_events(events, 2)
        assert got[-1] == "device detached", got
        assert "vanished" in runner.error
    finally:
        runner.stop()


def test_busy_and_missing_ports_are_one_clear_sentence(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    first = SerialTransport(path)
    first.open()
    try:
        with pytest.raises(TransportError, match="in use by another program"):
            SerialTransport(path).open()
    finally:
        first.close()
    with pytest.raises(TransportError, match="vanished") as info:
        SerialTransport("/dev/ttyNOPE-usbphone").open()
    assert info.value.gone


def test_profile_rules_and_templates() -> None:
    d = driver()
    assert [str(e) for e in d.decode(b"HOOK ON", 0.0)] == []  # first report on hook: silent
    assert [str(e) for e in d.decode(b"HOOK OFF", 0.1)] == ["hook off"]
    assert d.decode(b"HOOK OFF", 0.2) == []  # a level, not a press
    assert d.encode(HandsetCommand.parse(["tone", "dial"])) == []  # no template: nothing to send
    caps = d.capabilities()
    assert caps.hook and caps.keypad and caps.ringer and caps.lcd
    prof = profile_by_id("serial-line-phone")
    bad = dataclasses.replace(prof, options={**prof.options, "rx": [{"pattern": "^(", "event": "key 1"}]})
    with pytest.raises(ProfileError, match="regular expression"):
        SerialLinesDriver.validate_options(bad.options, "p")
    with pytest.raises(ProfileError, match="group 2"):
        SerialLinesDriver.validate_options({"rx": [{"pattern": "^K(.)$", "event": "key {2}"}]}, "p")
    with pytest.raises(ProfileError, match="tx.bogus"):
        SerialLinesDriver.validate_options({"rx": [{"pattern": "x", "event": "key 1"}], "tx": {"bogus": "x"}}, "p")


def under_umockdev(script: str, env: dict[str, str] | None = None) -> list[dict]:
    """Run tests/<script> under umockdev-wrapper; its JSON lines (skipped when umockdev is missing)."""
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("umockdev-wrapper") is None:
        pytest.skip("needs umockdev (Debian package umockdev)")
    try:
        import gi

        gi.require_version("UMockdev", "1.0")
    except (ImportError, ValueError) as exc:
        pytest.skip(f"UMockdev GI bindings not importable: {exc}")
    proc = subprocess.run(["umockdev-wrapper", sys.executable, str(Path(__file__).with_name(script))],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.umockdev
def test_find_port_by_usb_ids_and_serial_under_umockdev() -> None:
    out = under_umockdev("serial_port_scenario.py")[-1]
    assert out["BBB"] == "/dev/ttyUSB1"
    assert out["any"] in ("/dev/ttyUSB0", "/dev/ttyUSB1")
    assert out["acm"] == "/dev/ttyACM0"
    assert out["gone"] and "0403:6001 serial ZZZ" in out["missing"]


@pytest.mark.umockdev
def test_replugged_adapter_is_announced_again_with_its_new_port() -> None:
    """Reopen on replug: the real HotplugMonitor (pyudev, umockdev uevents) announces the adapter again with the
    tty name it got this time, under the same identity (VID:PID + serial), so the app opens the new port."""
    env = {**os.environ, "USBPHONE_DEVICES": "", "XDG_CONFIG_HOME": "/nonexistent"}
    steps = {s["step"]: s for s in under_umockdev("serial_replug_scenario.py", env)}
    seen = [(n["action"], n["node"], n["key"], n["profile"]) for step in ("plug", "unplug", "replug")
            for n in steps[step]["notices"]]
    key = "tty:0403:6001:sn=FT1"
    assert seen == [("attached", "/dev/ttyUSB0", key, "serial-rotary-hook"),
                    ("detached", "/dev/ttyUSB0", key, "serial-rotary-hook"),
                    ("attached", "/dev/ttyUSB1", key, "serial-rotary-hook")]
    assert all(n["after"] < 2.0 for step in ("plug", "unplug", "replug") for n in steps[step]["notices"])
    assert steps["stopped"]["errors"] == 0
    replugged = SerialTransport.for_device(DeviceInfo(vid=0x0403, pid=0x6001, serial="FT1", path="/dev/ttyUSB1"),
                                           profile_by_id("serial-rotary-hook"), None)
    assert replugged.port_name == "/dev/ttyUSB1"

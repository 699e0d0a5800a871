"""HP Internet Handset as pure profile data (hid_table driver): every captured key report from
../shared/hid-data (skipped when absent), the 0x41 double meaning, outputs, stuck keys, bad reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from usbphone.drivers.hid_table import HidTableDriver
from usbphone.events import HandsetCommand
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo, ProfileError

CAPTURE = (Path(__file__).resolve().parents[2] / "shared" / "hid-data" / "raw"
           / "hp_internet-handset_03f0-1c07.key-reports-and-lsusb.txt")
# capture-file key name -> the event word the profile should give it
NAMES = {str(d): f"key {d}" for d in range(10)} | {
    "*": "key *", "#": "key #", "contacts": "button speed_dial", "mute": "button mute",
    "green dial": "button pickup", "red hangup": "button hangup", "big handset N button (handset off cradle)":
    "button menu", "handset up inner hold button": "button hold", "big handset N button (handset down)":
    "button menu",
}


def driver() -> HidTableDriver:
    prof = profile_by_id("hp-internet-handset")
    return HidTableDriver(prof, DeviceInfo(vid=0x03F0, pid=0x1C07))


def captured() -> list[tuple[str, int, int | None]]:
    """(name, press code, release code or None) for every entry of the capture file."""
    if not CAPTURE.is_file():
        pytest.skip(f"{CAPTURE} not present")
    text = CAPTURE.read_text().split("Device Descriptor:")[0]
    out: list[tuple[str, int, int | None]] = []
    for block in re.split(r"\n      (?=\S)", text)[1:]:
        lines = [ln.strip() for ln in block.strip().splitlines()]
        codes = {m.group(2) or "level": int(m.group(1), 16)
                 for ln in lines[1:] if (m := re.match(r"00 ([0-9a-f]{2})(?: \((pressed|released)\))?", ln))}
        out.append((lines[0], codes.get("pressed", codes.get("level", -1)), codes.get("released")))
    return out


def test_every_captured_key_report() -> None:
    entries = captured()
    assert len(entries) == 21
    keys = [e for e in entries if e[2] is not None]
    assert len(keys) == 19
    for name, press, release in keys:
        d = driver()
        kind, value = NAMES[name].split(" ")
        assert [str(e) for e in d.decode(bytes([0, press]), 0.0)] == [f"{kind} {value}"], name
        up = f"{'key_up' if kind == 'key' else 'button_up'} {value}"
        assert [str(e) for e in d.decode(bytes([0, release]), 0.1)] == [up], name
        assert press == release + 2  # §5.3 "press code = release code + 2"
    cradle = {name: code for name, code, rel in entries if rel is None}
    d = driver()
    assert [str(e) for e in d.decode(bytes([0, cradle["handset is removed from cradle"]]), 0.0)] == ["hook off"]
    assert [str(e) for e in d.decode(bytes([0, cradle["handset is placed into cradle"]]), 0.1)] == ["hook on"]


def test_0x41_is_hangup_release_while_held_else_lift() -> None:
    d = driver()
    seq = [0x43, 0x41, 0x41, 0x43, 0x41, 0x40, 0x41]
    got = [str(e) for i, c in enumerate(seq) for e in d.decode(bytes([0, c]), i * 0.1)]
    assert got == ["button hangup", "button_up hangup", "hook off", "button hangup", "button_up hangup",
                   "hook on", "hook off"]


def test_outputs_are_the_documented_feature_report() -> None:
    d = driver()

    def send(*words: str) -> list[tuple[str, str]]:
        return [(o.data.hex(" "), o.transport) for o in d.encode(HandsetCommand.parse(list(words)))]

    assert send("led", "mute", "on") == [("00 40", "feature")]  # bit 6 mute LED
    assert send("led", "on_line", "on") == [("00 50", "feature")]  # + bit 4 handset LED
    assert send("speaker", "on") == [("00 51", "feature")]  # + bit 0 base speaker
    assert send("led", "mute", "off") == [("00 11", "feature")]
    assert send("ring", "on") == []  # no ringer output documented
    assert [o.data for o in d.stop()] == [b"\x00\x00"]
    caps = d.capabilities()
    assert caps.hook and caps.keypad and caps.speaker and {"mute", "on_line"} <= caps.leds


def test_led_blink_is_switched_from_poll() -> None:
    d = driver()
    assert d.read_timeout(0.0) is None
    assert [o.data for o in d.encode(HandsetCommand.parse(["speaker", "on"]))] == [b"\x00\x01"]
    assert [o.data for o in d.encode(HandsetCommand.parse(["led", "mute", "blink"]))] == [b"\x00\x41"]
    assert d.poll(0.0) == [] and d.read_timeout(0.0) == pytest.approx(0.5)
    assert [o.data for o in d.poll(0.5)] == [b"\x00\x01"]  # mute LED (bit 6) off, speaker kept
    assert [o.data for o in d.poll(1.0)] == [b"\x00\x41"] and d.poll(1.2) == []
    assert [o.data for o in d.encode(HandsetCommand.parse(["led", "mute", "off"]))] == [b"\x00\x01"]
    assert d.poll(5.0) == [] and d.read_timeout(5.0) is None


def test_stuck_key_and_bad_reports(caplog: pytest.LogCaptureFixture) -> None:
    d = driver()
    assert [str(e) for e in d.decode(b"\x00\x17", 1.0)] == ["key 5"]
    assert d.read_timeout(1.0) is not None
    assert d.tick(10.0) == []
    with caplog.at_level("WARNING"):
        assert [str(e) for e in d.tick(40.0)] == ["key_up 5"]
    assert "assuming its release was lost" in caplog.text
    assert d.decode(b"\x00\x15", 40.1) == []  # the late release is ignored, not a second key_up
    assert d.decode(b"\x00", 41.0) == [] and d.stats["bad_length"] == 1
    assert d.decode(b"\x00\x99", 41.0) == [] and d.stats["unknown_code"] == 1


def test_profile_errors_name_the_field() -> None:
    with pytest.raises(ProfileError, match="codes.0x07"):
        HidTableDriver.validate_options({"codes": {"0x07": "key 55"}}, "p")
    with pytest.raises(ProfileError, match="output.leds"):
        HidTableDriver.validate_options({"codes": {"0x07": "key 5"}, "output": {"leds": {"blinky": 1}}}, "p")
    with pytest.raises(ProfileError, match="'codes'"):
        HidTableDriver.validate_options({}, "p")

"""`usbphone replay` and `usbphone send` as a user runs them, on traces made at test time from the real
descriptors in ../shared/hid-data (by ../shared/checks/make_traces.py; skipped when ../shared is absent)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hid_data import MAKE_TRACES, real_descriptor

from usbphone.hid.open import device_info_from_trace, select_driver
from usbphone.hid.trace import Trace, TraceReport, load_trace

ROOT = Path(__file__).resolve().parents[1]


def usbphone(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "usbphone"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "usbphone.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MAKE_TRACES.is_file():
        pytest.skip("../shared/checks/make_traces.py not present")
    out = tmp_path_factory.mktemp("traces")
    subprocess.run([sys.executable, str(MAKE_TRACES), str(out)], check=True, timeout=60)
    return out


def json_events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_replay_json_of_real_headsets(made: Path) -> None:
    cases = sorted(made.glob("*.hid"))
    assert len([c for c in cases if c.with_suffix(".expected").exists()]) == 4
    for trace in cases:
        expected = trace.with_suffix(".expected")
        if not expected.exists():
            continue
        res = usbphone("replay", str(trace), "--json")
        assert res.returncode == 0, res.stderr
        events = json_events(res.stdout)
        assert all(set(e) >= {"t", "event", "value"} for e in events)
        assert [e["t"] for e in events] == sorted(e["t"] for e in events)
        got = [f"{e['event']} {e['value']}" for e in events if e["event"] in ("hook", "key", "button")]
        assert got == expected.read_text().split("\n")[:-1], trace.name


def test_replay_dial_trace_keeps_trace_time(made: Path) -> None:
    res = usbphone("replay", str(made / "dial_echo_600.hid"), "--json")
    events = [e for e in json_events(res.stdout) if e["event"] in ("hook", "key")]
    assert [(e["t"], e["event"], e["value"]) for e in events] == [
        (0.5, "hook", "off"), (1.5, "key", "6"), (2.0, "key", "0"), (2.5, "key", "0"), (3.0, "key", "#"),
        (7.0, "key", "5"), (9.0, "hook", "on")]


def test_headset_with_no_profile_decodes_from_its_real_descriptor(tmp_path: Path) -> None:
    # Yealink WH66 (6993:b02b): no profile in devices/; GN-style layout (§4.2): id 2, b0 hook, b2 mute,
    # b3 flash, b4 redial, b7-10 keypad (logical 0-11, idle 12)
    def rep(hook: int = 0, mute: int = 0, flash: int = 0, redial: int = 0, key: int = 12) -> bytes:
        v = hook | mute << 2 | flash << 3 | redial << 4 | key << 7
        return bytes([2, v & 0xFF, v >> 8])

    seq = [rep(), rep(hook=1), rep(hook=1, key=4), rep(hook=1), rep(hook=1, mute=1), rep(hook=1),
           rep(hook=1, redial=1), rep(hook=1), rep(hook=1, key=10), rep(hook=1), rep()]
    trace = Trace(name="Yealink WH66", phys="usb-0000:00:14.0-4/input3", bus=3, vid=0x6993, pid=0xB02B,
                  descriptor=real_descriptor("yealink_wh66_6993-b02b.rdesc.bin"),
                  reports=[TraceReport(0.2 * i, r) for i, r in enumerate(seq)])
    trace.save(tmp_path / "wh66.hid")
    profile, driver = select_driver(device_info_from_trace(load_trace(tmp_path / "wh66.hid")))
    assert profile is None and driver.name == "hid_telephony"
    res = usbphone("replay", str(tmp_path / "wh66.hid"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:-1] == [
        "hook off", "key 4", "key_up 4", "button mute", "button redial", "key *", "key_up *", "hook on"]


def test_no_telephony_device_is_said_clearly(tmp_path: Path) -> None:
    trace = Trace(name="G535", bus=3, vid=0x046D, pid=0x0AC4, reports=[TraceReport(0, bytes([1, 0, 0, 0, 0]))],
                  descriptor=real_descriptor("logitech_g535-wireless-gaming-headset_046d-0ac4.rdesc.bin"))
    trace.save(tmp_path / "g535.hid")
    res = usbphone("replay", str(tmp_path / "g535.hid"))
    assert res.returncode == 0 and res.stdout == ""
    assert "no telephony controls" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("body,where", [
    ("N: x\nI: 3 1 2\n", "no 'R:' descriptor line"),
    ("R: 2 05 0b\nI: 3 1 2\nE: 000000.000000 3 02 00\n", ":3: says 3 bytes but has 2"),
    ("R: 2 05 0b\nI: 3 1 2\nE: 000000.000000 1 00\nbogus line\n", ":4: unknown line type"),
    ("R: 0\nI: 3 1209 0001\nE: 000000.000000 1 00\n", "no profile matches 1209:0001"),
])
def test_bad_trace_is_one_line_exit_2(tmp_path: Path, body: str, where: str) -> None:
    path = tmp_path / "bad.hid"
    path.write_text(body)
    res = usbphone("replay", str(path), "--json")
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and where in res.stderr, res.stderr


def test_send_dry_run_json(made: Path) -> None:
    res = usbphone("send", str(made / "jabra_evolve_link.hid"), "led", "off_hook", "on", "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    assert json_events(res.stdout) == [{"report": "02 01 00", "transport": "hidraw"}]
    res = usbphone("send", str(made / "poly_blackwire_c5220.hid"), "ring", "on", "--dry-run")
    assert res.stdout == "hidraw 18 01\n"


def test_send_errors(made: Path) -> None:
    trace = str(made / "jabra_evolve_link.hid")
    res = usbphone("send", trace, "led", "off_hook", "on")
    assert res.returncode == 2 and "--dry-run" in res.stderr
    res = usbphone("send", trace, "led", "disco", "on", "--dry-run")
    assert res.returncode == 2 and "unknown LED 'disco'" in res.stderr
    res = usbphone("send", trace, "lcd", "123", "--dry-run")
    assert res.returncode == 1 and "cannot do 'lcd 123'" in res.stderr
    res = usbphone("send", "/dev/hidraw-nonexistent", "ring", "on", "--dry-run")
    assert res.returncode == 2 and "no attached device matches" in res.stderr


def test_profile_option(made: Path) -> None:
    res = usbphone("replay", str(ROOT / "devices/generic/traces/no-profile-headset.hid"), "--profile", "nope")
    assert res.returncode == 2 and "no profile named 'nope'" in res.stderr
    res = usbphone("replay", str(made / "poly_blackwire_c5220.hid"), "--profile", "jabra-gn")
    assert res.returncode == 0 and res.stdout.startswith("hook off\n")


def test_unparsable_descriptor_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "garbage.hid"
    path.write_text("R: 5 97 ff ff ff 7f\nI: 3 1209 0001\nE: 000000.000000 1 00\n")
    res = usbphone("replay", str(path))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert f"{path}: its report descriptor (the R: line" in res.stderr and "Report Count" in res.stderr


def test_bad_local_profile_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "devices" / "my-headset" / "profile.toml"
    bad.parent.mkdir(parents=True)
    bad.write_text('[device]\nname = "Mine"\ndriver = "hid_telephony"\ntransport = "hidraw"\n'
                   '[[match]]\nvid = 0x1209\n[options]\nring = "loudly"\n')
    import os

    env = dict(os.environ, USBPHONE_DEVICES=str(tmp_path / "devices"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    exe = Path(sys.executable).parent / "usbphone"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "usbphone.cli"]
    res = subprocess.run(cmd + ["replay", str(ROOT / "devices/generic/traces/no-profile-headset.hid")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert str(bad) in res.stderr and "field 'ring'" in res.stderr

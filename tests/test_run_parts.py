"""Pieces of `usbphone run` without SIP: event-log records, the virtual handset's keys and display, the
[phone] config section, and CLI errors that must be one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from usbphone.config import DialplanConfig
from usbphone.eventlog import EventLog, record
from usbphone.events import CallCommand, CallEvent, HandsetCommand, HandsetEvent
from usbphone.phone.settings import settings_from_config
from usbphone.virtual_handset import Display, decode_key


def test_records_have_the_documented_top_level_keys():
    r = record(HandsetEvent("key", "6", t=1.5), 100.0)
    assert r == {"t": 100.0, "kind": "handset_event", "event": "key", "value": "6"}
    r = record(HandsetCommand("ring", "on", target="classic"), 1.0)
    assert r == {"t": 1.0, "kind": "handset_command", "command": "ring", "value": "on", "target": "classic"}
    r = record(CallEvent("incoming", 0, remote_number="200"), 1.0)
    assert r["kind"] == "call_event" and r["event"] == "incoming" and r["call_id"] == 0
    r = record(CallCommand("transfer_attended", call_id=0, other_call_id=1), 1.0)
    assert r["command"] == "transfer_attended" and (r["call_id"], r["other_call_id"]) == (0, 1)


def test_event_log_writes_json_lines(tmp_path):
    path = tmp_path / "sub" / "log.jsonl"
    log = EventLog(str(path))
    log.write(HandsetEvent("hook", "off"))
    log.status("ready", sip="127.0.0.1:5060")
    log.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["event"] == "hook" and lines[1]["status"] == "ready"
    EventLog(None).write(HandsetEvent("hook", "off"))  # no file: nothing happens


def _kv(ev):
    return (ev.kind, ev.value)


def test_virtual_handset_keys():
    assert _kv(decode_key(" ", hook_off=False)) == ("hook", "off")
    assert decode_key(" ", hook_off=True).value == "on"
    assert _kv(decode_key("7", False)) == ("key", "7")
    assert decode_key("#", False).kind == "key"
    assert _kv(decode_key("m", False)) == ("button", "mute")
    assert _kv(decode_key("F", False)) == ("button", "flash")
    assert decode_key("r", False).value == "redial"
    assert decode_key("\x7f", False).value == "clear"
    assert decode_key("z", False) is None and decode_key("A", False) is None


def test_virtual_display_shows_lcd_ringer_tone_leds():
    d = Display()
    for cmd in (HandsetCommand("lcd", "Alice"), HandsetCommand("ring", "on"), HandsetCommand("led", "on", "ring"),
                HandsetCommand("lcd", "0:05", line=2), HandsetCommand("tone", "call_waiting")):
        d.apply(cmd)
    line = d.line(hook_off=False)
    assert "Alice | 0:05" in line and "RINGING" in line and "leds:ring" in line and "tone:call_waiting" in line
    d.apply(HandsetCommand("lcd_clear"))
    d.apply(HandsetCommand("ring", "off"))
    assert "Alice" not in d.line(True) and "OFF HOOK" in d.line(True) and "RINGING" not in d.line(True)


def test_phone_section_builds_settings():
    dp = DialplanConfig(interdigit_timeout=2.5, send_key="*", digit_maps=("1xx",))
    s, app = settings_from_config(dp, {"reject_code": 486, "call_waiting": False, "redial": "*9",
                                       "country": "de", "echo_number": "", "mute_window": 1})
    assert (s.inter_digit_timeout, s.send_key, s.digit_map) == (2.5, "*", ("1xx",))
    assert s.reject_code == 486 and not s.call_waiting and s.features.redial == "*9" and s.mute_window == 1.0
    assert app == {"country": "de", "echo_number": "", "unplugged_call": "hangup"}


@pytest.mark.parametrize("table,msg", [
    ({"reject_code": 200}, "reject_code: 200 is out of range"),
    ({"volume": "loud"}, "volume: expected int"),
    ({"call_waiting": 1}, "call_waiting: expected true or false"),
    ({"bogus": 1}, "bogus: unknown key"),
    ({"redial": "*78"}, "two feature codes are the same"),
])
def test_phone_section_errors_name_the_key(table, msg):
    with pytest.raises(ValueError, match=msg):
        settings_from_config(DialplanConfig(), table, "cfg.toml")


def _run(*args, tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "usbphone.cli", "run", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_bad_phone_config_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[phone]\nreject_code = 99\n")
    p = _run("--config", str(cfg), tmp_path=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "[phone] reject_code" in p.stderr and "Traceback" not in p.stderr


def test_bad_trace_is_one_line(tmp_path):
    trace = tmp_path / "bad.hid"
    trace.write_text("E: nonsense\n")
    p = _run("--replay", str(trace), "--bind", "127.0.0.1:0", tmp_path=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.strip().count("\n") == 0, p.stderr


@pytest.mark.parametrize("args,msg", [
    (["--bind", "999.1.1.1:5"], "bad bind address"),
    (["--config", "/nonexistent/usbphone.toml"], "does not exist"),
    (["--replay", "/nonexistent/trace.hid"], "cannot read trace"),
])
def test_user_errors_are_one_line(tmp_path, args, msg):
    p = _run(*args, tmp_path=tmp_path)
    assert p.returncode in (1, 2) and msg in p.stderr and "Traceback" not in p.stderr
    assert p.stderr.strip().count("\n") == 0, p.stderr


def test_volume_store_keeps_volumes_per_device(tmp_path, monkeypatch):
    from usbphone.volumes import VolumeStore, default_path

    path = tmp_path / "state" / "volumes.json"
    store = VolumeStore(path)
    assert store.get("hidraw:0b0e:0307:sn=A") is None
    store.put("hidraw:0b0e:0307:sn=A", 30, 90)
    store.put("usb:6993:b001:port=1-2", 70, 40)
    again = VolumeStore(path)
    assert again.get("hidraw:0b0e:0307:sn=A") == (30, 90) and again.get("usb:6993:b001:port=1-2") == (70, 40)
    path.write_text("{not json")
    assert VolumeStore(path).get("hidraw:0b0e:0307:sn=A") is None  # unreadable: defaults, said once
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "svc"))
    assert default_path() == tmp_path / "svc" / "volumes.json"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "usbphone" / "volumes.json"


def test_volume_store_survives_a_read_only_place(tmp_path):
    from usbphone.volumes import VolumeStore

    blocker = tmp_path / "file"
    blocker.write_text("")
    store = VolumeStore(blocker / "sub" / "volumes.json")  # a file where a directory should be
    store.put("k", 10, 20)  # cannot save: warned once, kept in memory
    assert store.get("k") == (10, 20)

"""`usbphone doctor`: permissions, kernel drivers, audio and registration, each problem with its fix.

Device checks run against umockdev testbeds (tests/umockdev_exec.py), as root and as an unprivileged uid;
registration runs against a real SIPp registrar on 127.0.0.1 and against a port where nothing answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from umockdev_devices import TELEPHONY_DESCRIPTOR, FakeUsbDevice, umockdev_available  # noqa: E402

USBPHONE = str(Path(sys.executable).parent / "usbphone")
EXEC = str(Path(__file__).with_name("umockdev_exec.py"))
needs_umockdev = pytest.mark.skipif(not umockdev_available(), reason="needs umockdev")


def doctor(tmp_path: Path, *devices: FakeUsbDevice, as_nobody: bool = False, args: tuple[str, ...] = ()
           ) -> tuple[int, list[dict[str, Any]]]:
    env = {**os.environ, "HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent", "USBPHONE_DEVICES": "",
           "USBPHONE_CONFIG": ""}
    cmd = [USBPHONE, "doctor", "--json", *args]
    if devices:
        desc = tmp_path / "devices.umockdev"
        desc.write_text("\n".join(d.description() for d in devices))
        desc.chmod(0o644)
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_nobody else []
        cmd = ["umockdev-wrapper", sys.executable, EXEC, str(desc), "--", *user, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def about(checks: list[dict[str, Any]], node: str) -> list[dict[str, Any]]:
    return [c for c in checks if c["what"].startswith(node + " ")]


@needs_umockdev
def test_healthy_headset_passes(tmp_path: Path) -> None:
    headset = FakeUsbDevice(0x0B0E, 0x0307, serial="J1", descriptor=TELEPHONY_DESCRIPTOR, sound_card=1, power="on")
    rc, checks = doctor(tmp_path, headset)
    mine = about(checks, "/dev/hidraw0")
    assert [c["level"] for c in mine] == ["ok", "ok"], mine
    assert "can open /dev/hidraw0" in mine[0]["detail"] and "sound card 1" in mine[1]["detail"]
    assert rc == 0 and not [c for c in checks if c["level"] == "problem"], checks


@needs_umockdev
def test_vendor_phone_with_kernel_driver_and_no_sound_card(tmp_path: Path) -> None:
    phone = FakeUsbDevice(0x6993, 0xB001, kind="usb", port="1-3", devnum=3, driver="yealink")
    rc, checks = doctor(tmp_path, phone)
    mine = about(checks, "/dev/bus/usb/001/003")
    assert rc == 1
    driver = next(c for c in mine if "kernel driver yealink" in c["detail"])
    assert driver["level"] == "warning" and "blacklist" in driver["fix"] and "modprobe -r yealink" in driver["fix"]
    audio = next(c for c in mine if "sound card" in c["detail"])
    assert audio["level"] == "problem" and "snd-usb-audio" in audio["fix"]
    autosuspend = next(c for c in mine if "autosuspend" in c["detail"])
    assert autosuspend["level"] == "warning" and "power/control" in autosuspend["fix"]


@needs_umockdev
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to switch to uid 65534")
def test_unprivileged_user_gets_permission_problems_with_fixes(tmp_path: Path) -> None:
    headset = FakeUsbDevice(0x0B0E, 0x0307, serial="J1", descriptor=TELEPHONY_DESCRIPTOR, sound_card=1, power="on")
    phone = FakeUsbDevice(0x6993, 0xB001, kind="usb", port="1-3", devnum=3, driver="yealink", power="on")
    rc, checks = doctor(tmp_path, headset, phone, as_nobody=True)
    assert rc == 1
    node = next(c for c in about(checks, "/dev/hidraw0") if "cannot open /dev/hidraw0" in c["detail"])
    assert node["level"] == "problem"
    assert any(hint in node["fix"] for hint in ("usbphone install", "usermod -aG usbphone", "udevadm trigger"))
    sound = next(c for c in about(checks, "/dev/hidraw0") if "sound card" in c["detail"])
    assert sound["level"] == "problem" and "-aG audio" in sound["fix"]
    driver = next(c for c in about(checks, "/dev/bus/usb/001/003") if "kernel driver yealink" in c["detail"])
    assert driver["level"] == "problem" and "cannot open the USB device" in driver["detail"]


def test_bad_config_is_one_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sip]\nbind = "127.0.0.1:0"\n[[account]]\nname = "x"\nregistrar = "pbx.example.org"\n')
    rc, checks = doctor(tmp_path, args=("--config", str(bad)))
    config = next(c for c in checks if c["what"] == "config")
    assert rc == 1 and config["level"] == "problem" and str(bad) in config["detail"]


def test_service_credential_path_is_a_warning_outside_the_service(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text((Path(__file__).resolve().parents[1] / "udev/config.toml.example").read_text()
                   .replace("#[[account]]", "[[account]]").replace('#name = "office"', 'name = "office"')
                   .replace('#user = "alice"', 'user = "alice"').replace("#password_credential", "password_credential"))
    rc, checks = doctor(tmp_path, args=("--config", str(cfg)))
    config = next(c for c in checks if c["what"] == "config")
    assert config["level"] == "warning" and "journalctl -u usbphone.service" in config["fix"], config


# --- registration against a real SIPp registrar --------------------------------------------------------------

REGISTRAR_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar for usbphone doctor">
  <recv request="REGISTER" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=300
Expires: 300
Content-Length: 0

]]></send>
  <recv request="REGISTER" timeout="10000" ontimeout="done"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="done"/>
</scenario>
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, port: int) -> Path:
    (tmp_path / "pw").write_text("secret\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[sip]\nbind = "127.0.0.1:0"\n\n[[account]]\nname = "desk"\nuser = "alice"\n'
                   f'registrar = "sip:127.0.0.1:{port}"\npassword_file = "{tmp_path}/pw"\n')
    return cfg


@pytest.mark.peers
@pytest.mark.skipif(not shutil.which("sipp"), reason="needs sipp (Debian package sip-tester)")
def test_registration_ok_against_sipp(tmp_path: Path) -> None:
    port = _free_udp_port()
    scenario = tmp_path / "registrar.xml"
    scenario.write_text(REGISTRAR_XML)
    sipp = subprocess.Popen(["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                             "-nostdin", "-timeout", "60s", "-nd"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        rc, checks = doctor(tmp_path, args=("--config", str(_config(tmp_path, port)), "--timeout", "10"))
    finally:
        sipp.kill()
        sipp.wait(10)
    reg = next(c for c in checks if c["what"] == "registration")
    assert reg["level"] == "ok", reg


@pytest.mark.peers
def test_registration_failure_is_a_problem_with_a_fix(tmp_path: Path) -> None:
    port = _free_udp_port()  # nothing listens here
    rc, checks = doctor(tmp_path, args=("--config", str(_config(tmp_path, port)), "--timeout", "3"))
    reg = next(c for c in checks if c["what"] == "registration")
    assert rc == 1 and reg["level"] == "problem" and "usbphone register --config" in reg["fix"], reg
    assert "secret" not in json.dumps(checks)


def test_audio_health_from_the_event_log(tmp_path: Path) -> None:
    """`--events`: xruns of the last streams are a warning, callback errors a problem, a cut line is skipped,
    an unreadable log is one problem with a fix (records as usbphone/app.py writes them)."""
    from usbphone.audio.health import summarize

    log = tmp_path / "events.jsonl"
    stream = {"why": "idle", "seconds": 12.5, "xruns": 0, "errors": 0, "last_error": ""}
    lines = [{"t": 1.0, "kind": "status", "status": "audio_closed", "audio": stream},
             {"t": 2.0, "kind": "status", "status": "audio_fault", "audio": {"kind": "open_failed", "message": "busy"}},
             {"t": 3.0, "kind": "status", "status": "audio_closed", "audio": stream | {"xruns": 4}}]
    log.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"t": 4.0, "kind": "sta')
    found = summarize(log)
    assert [(f.level, f.detail) for f in found] == [
        ("warning", "last 2 sound stream(s), 25 s: 4 xrun(s), 0 callback error(s)"),
        ("warning", "audio fault open_failed: busy")]
    assert 'latency = "high"' in found[0].fix
    with log.open("a") as f:
        f.write("\n" + json.dumps(lines[2] | {"audio": stream | {"errors": 2, "last_error": "ValueError: x"}}) + "\n")
    assert summarize(log, streams=1)[0].level == "problem" and "ValueError: x" in summarize(log, streams=1)[0].detail
    missing = summarize(tmp_path / "nope.jsonl")
    assert missing[0].level == "problem" and "cannot read the event log" in missing[0].detail and missing[0].fix

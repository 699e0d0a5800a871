"""`usbphone call` and `usbphone register` as a user runs them, against SIPp and Kamailio."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from peers import free_port
from test_sip_registrar import USERS, account

pytestmark = pytest.mark.peers


def usbphone(*args: str, timeout: float = 40) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "usbphone.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_call_connects_sends_dtmf_and_exits_0(sipp_uas, capture):
    cap = capture()
    uas = sipp_uas("uas_answer.xml")
    r = usbphone("call", uas.uri("100"), "--bind", "127.0.0.1:0", "--duration", "1.5", "--dtmf", "42")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "connected 100" in r.stdout and "ended 200" in r.stdout
    assert uas.wait() == 0
    assert cap.finish().rtp_events(port=uas.media_port) == "42"
    assert "Traceback" not in r.stderr


def test_call_rejected_exits_1_with_the_reason(sipp_uas):
    uas = sipp_uas("uas_reject.xml", values={"code": "486", "reason": "Busy Here"})
    r = usbphone("call", uas.uri(), "--bind", "127.0.0.1:0")
    assert r.returncode == 1
    assert "ended 486 Busy Here" in r.stdout
    assert uas.wait() == 0


def test_call_busy_explicit_port_is_one_clear_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        busy = s.getsockname()[1]
        r = usbphone("call", "sip:x@127.0.0.1:9", "--bind", f"127.0.0.1:{busy}")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"usbphone call: cannot bind 127.0.0.1:{busy}: address already in use "
                                "(pick another port, or port 0 for any)")


def test_default_port_taken_falls_back_to_a_free_port(sipp_uas):
    uas = sipp_uas("uas_answer.xml")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", 5060))
        except OSError:
            pass  # someone else holds it: same situation
        r = usbphone("call", uas.uri(), "--bind", "127.0.0.1", "--duration", "0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SIP port 5060 on 127.0.0.1 is in use; using a free port instead" in r.stderr
    assert "from 127.0.0.1:5060" not in r.stdout
    assert uas.wait() == 0


def test_register_ok_and_wrong_password(tmp_path: Path, kamailio):
    kam = kamailio(USERS)
    good = tmp_path / "good.toml"
    good.write_text(account(kam, "alice"))
    r = usbphone("register", "--config", str(good), "--bind", "127.0.0.1:0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "alice: registered (200 OK" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(account(kam, "alice", password="s3cret-wrong"))
    r = usbphone("register", "--config", str(bad), "--bind", "127.0.0.1:0")
    assert r.returncode == 1
    assert "alice: registration failed: 401 Unauthorized" in r.stdout or "403" in r.stdout, r.stdout
    assert "s3cret-wrong" not in r.stdout + r.stderr


def test_register_with_the_password_from_a_systemd_credential(tmp_path: Path, kamailio):
    """password_credential: the password comes from $CREDENTIALS_DIRECTORY (LoadCredential=), never shows."""
    kam = kamailio(USERS)
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "sip-password").write_text(USERS["alice"] + "\n")
    cfg = tmp_path / "cred.toml"
    cfg.write_text(account(kam, "alice").replace(f'password = "{USERS["alice"]}"',
                                                 'password_credential = "sip-password"'))
    assert "password =" not in cfg.read_text()
    args = [sys.executable, "-m", "usbphone.cli", "register", "--config", str(cfg), "--bind", "127.0.0.1:0"]
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
    r = subprocess.run(args, capture_output=True, text=True, timeout=40, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "alice: registered (200 OK" in r.stdout and USERS["alice"] not in r.stdout + r.stderr
    env.pop("CREDENTIALS_DIRECTORY")
    r = subprocess.run(args, capture_output=True, text=True, timeout=40, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "password_credential: $CREDENTIALS_DIRECTORY is not set" in r.stderr


def test_register_without_registrar_and_bad_config_are_one_line_errors(tmp_path: Path):
    r = usbphone("register", "--bind", "127.0.0.1:0", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    empty = tmp_path / "empty.toml"
    empty.write_text("[sip]\n")
    r = usbphone("register", "--config", str(empty), "--bind", "127.0.0.1:0")
    assert r.returncode == 1 and "no account with a registrar" in r.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('[sip]\ndtmf = "smoke"\n')
    r = usbphone("call", "100", "--config", str(broken))
    assert r.returncode == 2
    assert r.stderr.strip().endswith("[sip] dtmf: 'smoke' is not one of rfc4733, info, inband")


def test_call_via_registered_account_and_dial_plan(tmp_path: Path, kamailio, pjpeer):
    kam = kamailio(USERS)
    bob = pjpeer(account(kam, "bob") + "[sip]\nauto_answer = true\n", name="bob")
    bob.event("registration")
    cfg = tmp_path / "alice.toml"
    cfg.write_text(account(kam, "alice"))
    r = usbphone("call", "bob", "--config", str(cfg), "--bind", f"127.0.0.1:{free_port()}", "--duration", "0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"calling sip:bob@127.0.0.1:{kam.port}" in r.stdout
    assert bob.event("incoming")["remote_number"] == "alice"


def test_audio_device_builds_the_audio_bridge_with_the_config(tmp_path: Path):
    """--audio-device hands the [audio] section to the audio bridge; its complaints become one line."""
    cfg = tmp_path / "a.toml"
    cfg.write_text("[audio]\nbridge_rate = 12345\n")
    r = usbphone("call", "sip:x@127.0.0.1:9", "--config", str(cfg), "--bind", "127.0.0.1:0",
                 "--audio-device", "system")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "usbphone call: audio: [audio] bridge_rate must be 8000, 16000, 32000 or 48000"

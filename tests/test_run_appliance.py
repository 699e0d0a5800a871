"""`usbphone run` as a person meets it: the terminal as a virtual handset (through a real pty), no handset and
no terminal (waits for SIGTERM), Ctrl-C in a call (hangs up, stops the echo UA, exits 0), idle CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from peers import free_port
from run_support import ROOT, App, Script, call_commands, call_events, commands, uac_rejected

pytestmark = pytest.mark.peers


def test_virtual_handset_in_a_terminal_dials_the_echo_test(tmp_path):
    master, slave = os.openpty()
    log = tmp_path / "log.jsonl"
    out = open(tmp_path / "out.txt", "wb")  # noqa: SIM115
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    p = subprocess.Popen([sys.executable, "-m", "usbphone.cli", "run", "--bind", "127.0.0.1:0", "--log-json",
                          str(log)], stdin=slave, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                         start_new_session=True)
    reader = App.__new__(App)  # reuse the log reader only
    reader.log_path, reader.p, reader.out_path, reader._out = log, p, tmp_path / "out.txt", out
    try:
        reader.ready()
        time.sleep(0.5)  # the key reader starts right after the status screen
        os.write(master, b" ")
        reader.wait_for(lambda r: r.get("command") == "tone" and r.get("value") == "dial", 10, "dial tone")
        os.write(master, b"600#")
        reader.wait_for(lambda r: r.get("event") == "connected", 15, "connected")
        os.write(master, b"5")
        reader.wait_for(lambda r: r.get("kind") == "call_event" and r.get("event") == "dtmf", 10, "echoed digit")
        os.write(master, b" ")
        reader.wait_for(lambda r: r.get("kind") == "call_event" and r.get("event") == "ended", 10, "ended")
        os.write(master, b"q")
        assert p.wait(30) == 0
    finally:
        reader.stop()
        os.close(master)
        os.close(slave)
    text = (tmp_path / "out.txt").read_text(errors="replace")
    assert "virtual handset in this terminal" in text and "space = lift" in text
    assert "[        600         ]" in text  # the LCD line showed the number
    records = reader.records()
    hooks = [r["value"] for r in records if r.get("event") == "hook"]
    assert hooks == ["off", "on"]


def test_no_terminal_and_no_handset_waits_for_sigterm_and_turns_callers_away(tmp_path):
    port = free_port()
    app = App(tmp_path, None, bind=f"127.0.0.1:{port}")
    try:
        app.ready()
        proc = psutil.Process(app.p.pid)
        before = proc.cpu_times()
        time.sleep(3.0)
        after = proc.cpu_times()
        assert app.p.poll() is None
        uac = uac_rejected(tmp_path, f"127.0.0.1:{port}", 480)
        try:
            assert uac.wait(30) == 0, uac.log()  # nothing to ring: 480 at once, not ringing into the void
        finally:
            uac.stop()
        os.killpg(app.p.pid, signal.SIGTERM)
        assert app.wait(20) == 0
    finally:
        app.stop()
    assert "stdin is not a terminal" in app.output()
    busy = (after.user + after.system) - (before.user + before.system)
    assert busy < 0.3, f"idle appliance used {busy:.2f} s CPU in 3 s"  # generous; tools/bench measures it
    assert app.records()[-1]["status"] == "stopped"
    assert not commands(app.records(), "ring") and call_commands(app.records(), "reject")[0]["code"] == 480


def test_ctrl_c_in_a_call_hangs_up_and_exits_cleanly(tmp_path):
    trace = Script().at(0.5).lift().dial("600#").idle_until(60.0).save(tmp_path / "t.hid")
    app = App(tmp_path, trace)
    try:
        app.wait_for(lambda r: r.get("event") == "connected", 30, "connected")
        children = psutil.Process(app.p.pid).children(recursive=True)
        assert any("usbphone.echo" in " ".join(c.cmdline()) for c in children)
        os.kill(app.p.pid, signal.SIGINT)
        t0 = time.monotonic()
        assert app.wait(20) == 0, app.output()
        assert time.monotonic() - t0 < 10
    finally:
        app.stop()
    log = app.records()
    quit_t = next(r["t"] for r in log if r.get("status") == "quit")
    assert [c for c in call_commands(log, "hangup") if c["t"] >= quit_t]
    assert call_events(log, "ended")
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

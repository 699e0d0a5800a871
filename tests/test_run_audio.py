"""`usbphone run` and its audio device failing mid-call: [audio] device_lost = "hangup" ends the call (BYE on
the wire within 1 s of the fault), "keep" lets it go on. The sound device is JACK's "system" (jackd -d dummy,
started here) and the sound server is killed mid-call; SIPp answers; tshark records the BYE. Either way the
appliance exits 0 afterwards (no PortAudio abort at exit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from jackd import JackServer
from peers import Capture, Sipp, require
from run_support import App, Script, call_commands, call_events

pytestmark = pytest.mark.peers


def _call_and_kill_the_sound_server(tmp_path, monkeypatch, policy: str):
    require("sipp", "tshark")
    server = JackServer(tmp_path, rate=48000)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    cap = Capture(tmp_path).start()
    uas = Sipp.uas(tmp_path, scenario="uas_answer.xml")
    config = (f'[[account]]\nname = "lan"\nuser = "alice"\ndomain = "127.0.0.1:{uas.port}"\n'
              f'[audio]\ndevice = "system"\ndevice_lost = "{policy}"\n')
    trace = Script().at(1.0).lift().dial("100#").idle_until(12.0).hang_up().idle_until(12.5)
    app = App(tmp_path, trace.save(tmp_path / "t.hid"), config=config)
    try:
        app.wait_for(lambda r: r.get("event") == "connected", 30, "call connected")
        app.wait_for(lambda r: r.get("status") == "audio_open", 10, "audio stream open")
        time.sleep(1.0)
        killed = time.time()
        os.killpg(server.p.pid, signal.SIGTERM)  # the sound device vanishes mid-call
        rc = app.wait(60)
        assert uas.wait(20) == 0, uas.log()
    finally:
        app.stop()
        uas.stop()
        server.stop()
        cap.finish()
    byes = cap.fields(f'sip.Method == "BYE" && udp.dstport == {uas.port}', "frame.time_epoch",
                      decode=[f"udp.port=={uas.port},sip"])
    return app.records(), killed, [float(b[0]) for b in byes], rc, app.output(), app.log_path


def test_device_lost_with_hangup_policy_sends_bye_within_1s(tmp_path, monkeypatch):
    log, killed, byes, rc, out, _ = _call_and_kill_the_sound_server(tmp_path, monkeypatch, "hangup")
    assert rc == 0, out
    fault = next(r for r in log if r.get("status") == "audio_fault" and r["audio"]["kind"] == "device_lost")
    assert fault["audio"]["policy"] == "hangup"
    assert byes, log
    print(f"fault {fault['t'] - killed:.3f} s after the kill; BYE {byes[0] - fault['t']:.3f} s after the fault")
    assert 0 <= byes[0] - fault["t"] < 1.0
    hangup = call_commands(log, "hangup")[0]
    hook_on = [r["t"] for r in log if r.get("event") == "hook" and r.get("value") == "on"]
    assert not hook_on or hangup["t"] < hook_on[0]  # the app hung up, not the person


def test_device_lost_with_keep_policy_keeps_the_call(tmp_path, monkeypatch):
    log, killed, byes, rc, out, log_path = _call_and_kill_the_sound_server(tmp_path, monkeypatch, "keep")
    # PortAudio 19.6's JACK host aborts the process when a stream of a dead server is closed or PortAudio is
    # terminated (pa_jack.c asserts; usbphone/audio/jackhost.py): the bridge leaves both alone, and does not
    # try to re-open "system" on PortAudio's dead JACK client either (pa_jack would log jack_port_register)
    assert rc == 0, out
    assert "Assertion" not in out and "jack_port_register" not in out, out
    retries = [r["audio"] for r in log if r.get("status") == "audio_fault" and r["audio"]["kind"] == "open_failed"]
    assert retries and "JACK server went away" in retries[0]["message"], log
    fault = next(r for r in log if r.get("status") == "audio_fault" and r["audio"]["kind"] == "device_lost")
    assert fault["audio"]["policy"] == "keep"
    hook_on = next(r["t"] for r in log if r.get("event") == "hook" and r.get("value") == "on")
    ended = call_events(log, "ended")
    assert ended and ended[0]["t"] > hook_on  # the call lasted until the person hung up (~9 s after the fault)
    assert byes and byes[0] > hook_on - 0.5
    # `usbphone doctor --events LOG` reads the same log: the stream that was lost and the faults, as warnings
    proc = subprocess.run([sys.executable, "-m", "usbphone.cli", "doctor", "--events", str(log_path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    health = [json.loads(line) for line in proc.stdout.splitlines() if '"audio health"' in line]
    print("doctor:", [(h["level"], h["detail"]) for h in health])
    streams = [h for h in health if "sound stream" in h["detail"]]
    assert streams and streams[0]["level"] in ("ok", "warning"), health  # xruns as the server died: a warning
    assert any(h["level"] == "warning" and "device_lost" in h["detail"] for h in health), health

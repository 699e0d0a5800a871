"""`usbphone run` end to end: a scripted trace is the handset, pjsua2 is real, peers are real (SIPp, echo UA).

Every appliance and peer binds 127.0.0.1 on a free port and is stopped by PID in ``finally``.
"""

from __future__ import annotations

import pytest
from peers import Capture, Sipp, free_port
from run_support import App, Script, call_commands, call_events, commands, uac_rejected

pytestmark = pytest.mark.peers


def test_echo_test_call(tmp_path):
    trace = Script().at(0.5).lift().dial("600#").wait(2.5).press("5").wait(1.5).hang_up().save(tmp_path / "t.hid")
    app = App(tmp_path, trace)
    try:
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
    log = app.records()
    out = app.output()
    assert "echo:     dial 600" in out and "no registrar" in out
    dial = call_commands(log, "dial")
    assert len(dial) == 1 and dial[0]["target"] == "600" and dial[0]["routed_to"].startswith("sip:600@127.0.0.1:")
    assert call_events(log, "connected")
    echoed = [e["value"] for e in call_events(log, "dtmf")]
    assert echoed == ["5"]  # the echo UA sent our RFC 4733 digit back
    assert [c["digits"] for c in call_commands(log, "dtmf")] == ["5"]
    assert call_commands(log, "hangup") and call_events(log, "ended")
    tones = [c["value"] for c in commands(log, "tone")]
    assert tones[:2] == ["dial", "off"]
    assert log[-1]["status"] == "stopped"


def test_outgoing_call_to_sipp_uas_with_dtmf_and_bye(tmp_path):
    cap = Capture(tmp_path).start()
    uas = Sipp.uas(tmp_path, scenario="uas_answer.xml")
    config = f'[[account]]\nname = "lan"\nuser = "alice"\ndomain = "127.0.0.1:{uas.port}"\n'
    trace = Script().at(0.5).lift().dial("100#").wait(2.0).press("5").wait(1.0).hang_up().save(tmp_path / "t.hid")
    app = App(tmp_path, trace, config=config)
    try:
        assert app.wait(60) == 0, app.output()
        assert uas.wait(20) == 0, uas.log()
    finally:
        app.stop()
        uas.stop()
        cap.finish()
    log = app.records()
    assert call_commands(log, "dial")[0]["target"] == "100"
    invites = cap.fields(f"sip.Method == \"INVITE\" && udp.dstport == {uas.port}", "sip.r-uri.user",
                         "sip.r-uri.host", decode=[f"udp.port=={uas.port},sip"])
    assert invites and invites[0][:2] == ["100", "127.0.0.1"]
    assert "5" in cap.rtp_events()
    rows = cap.fields(f"sip && udp.port == {uas.port}", "sip.Method", "sip.Status-Code",
                      decode=[f"udp.port=={uas.port},sip"])  # only this UAS: other tests share lo
    methods = [r[0] or r[1] for r in rows if any(r)]
    assert "BYE" in methods and methods.index("BYE") > methods.index("INVITE"), methods
    assert "dial 600 for the echo test" in app.output()  # no registrar: the echo test is offered


def _incoming_app(tmp_path, script: Script) -> tuple[App, int]:
    port = free_port()
    app = App(tmp_path, script.save(tmp_path / "t.hid"), bind=f"127.0.0.1:{port}")
    app.ready()
    return app, port


def test_incoming_call_rings_shows_caller_answers_and_remote_bye_goes_idle(tmp_path):
    app, port = _incoming_app(tmp_path, Script().at(2.5).lift().idle_until(9.0).hang_up())
    uac = Sipp.uac(tmp_path, f"127.0.0.1:{port}", scenario="uac_call.xml", values={"talk_ms": "2000"})
    try:
        assert uac.wait(30) == 0, uac.log()
        assert app.wait(60) == 0, app.output()
    finally:
        uac.stop()
        app.stop()
    log = app.records()
    ring = commands(log, "ring")
    assert [r["value"] for r in ring] == ["on", "off"]
    assert {"command": "lcd", "value": "SIPp Caller"}.items() <= next(
        c for c in commands(log, "lcd") if c["value"] == "SIPp Caller").items()
    answer = call_commands(log, "answer")
    assert answer and answer[0]["t"] > ring[0]["t"]
    ended = call_events(log, "ended")[0]
    assert ended["extra"]["by"] == "remote"
    after = [c for c in commands(log) if c["t"] >= ended["t"]]
    assert {"command": "led", "value": "off", "target": "on_line"} in [
        {k: c.get(k) for k in ("command", "value", "target")} for c in after]
    assert any(c["command"] == "lcd_clear" for c in after)


def test_caller_cancels_while_ringing_stops_ringer_at_once(tmp_path):
    app, port = _incoming_app(tmp_path, Script().idle_until(6.0))
    uac = Sipp.uac(tmp_path, f"127.0.0.1:{port}", scenario="uac_cancel.xml")
    try:
        assert uac.wait(30) == 0, uac.log()
        assert app.wait(60) == 0, app.output()
    finally:
        uac.stop()
        app.stop()
    log = app.records()
    ring = commands(log, "ring")
    assert [r["value"] for r in ring] == ["on", "off"]
    ended = call_events(log, "ended")[0]
    assert ended["code"] == 487
    assert ring[1]["t"] - ended["t"] < 0.1  # generous: measured well under a millisecond in the log
    assert not call_commands(log, "answer")


def test_dnd_feature_code_rejects_incoming_without_ringing(tmp_path):
    app, port = _incoming_app(tmp_path, Script().at(0.5).lift().dial("*78").hang_up().idle_until(8.0))
    try:
        app.wait_for(lambda r: r.get("command") == "lcd" and r.get("value") == "DND on", 20, "DND on")
        uac = uac_rejected(tmp_path, f"127.0.0.1:{port}", 486)
        try:
            assert uac.wait(30) == 0, uac.log()
        finally:
            uac.stop()
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
    log = app.records()
    assert not commands(log, "ring")
    assert call_commands(log, "reject")[0]["code"] == 486
    assert {"command": "led", "value": "on", "target": "dnd"}.items() <= commands(log, "led")[-1].items() or any(
        c.get("target") == "dnd" and c["value"] == "on" for c in commands(log, "led"))

"""`usbphone run` desk-phone flows against real pjsua2 peers: call waiting with flash swap, hold/resume and
ring-back of a held call, attended transfer through Kamailio, redial. A scripted trace is the handset."""

from __future__ import annotations

import pytest
from peers import Kamailio, PjPeer, free_port
from run_support import App, Script, call_commands, call_events, commands

pytestmark = pytest.mark.peers


def _cmds(log, *kinds):
    return [(c["command"], c.get("call_id")) for c in call_commands(log) if c["command"] in kinds]


def test_call_waiting_flash_swap_hold_and_ring_back(tmp_path):
    port = free_port()
    script = (Script().at(0.5).lift().dial("600#")  # call 0: the echo test
              .at(5.0).button("flash")  # answer the waiting call (call 1), holding the echo call
              .at(7.0).button("flash")  # swap back to the echo call
              .at(9.0).hang_up()  # hang up the echo call: the held call rings back
              .at(10.5).lift()  # pick it up again
              .at(12.0).hang_up().idle_until(12.5))
    app = App(tmp_path, script.save(tmp_path / "t.hid"), bind=f"127.0.0.1:{port}")
    peer = None
    try:
        app.ready()
        peer = PjPeer(tmp_path, name="caller")
        app.wait_for(lambda r: r.get("event") == "connected", 20, "echo call connected")
        peer.send({"kind": "dial", "target": f"sip:usbphone@127.0.0.1:{port}"})
        assert peer.event("connected", timeout=20)
        assert peer.event("held", timeout=20)["by"] == "remote"
        assert peer.event("resumed", timeout=20)
        assert peer.event("ended", timeout=20)["by"] == "remote"
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
        if peer is not None:
            peer.stop()
    log = app.records()
    incoming = call_events(log, "incoming")[0]
    echo_id, waiting_id = call_events(log, "connected")[0]["call_id"], incoming["call_id"]
    assert [c["value"] for c in commands(log, "tone")].count("call_waiting") == 1
    assert any(c.get("line") == 2 and c["value"] == "usbphone" for c in commands(log, "lcd"))
    assert _cmds(log, "hold", "answer", "resume", "hangup") == [
        ("hold", echo_id), ("answer", waiting_id),  # flash 1
        ("hold", waiting_id), ("resume", echo_id),  # flash 2
        ("hangup", echo_id),  # on hook: the waiting caller is still held...
        ("resume", waiting_id),  # ...rings back, lifting resumes it
        ("hangup", waiting_id),
    ]
    hangup_t = next(c["t"] for c in call_commands(log, "hangup"))
    assert [c["value"] for c in commands(log, "ring") if c["t"] > hangup_t] == ["on", "off"]


def test_attended_transfer_through_kamailio(tmp_path):
    users = {"300": "pw300", "100": "pw100", "200": "pw200"}
    kam = Kamailio(tmp_path, users=users).start()
    peers: list[PjPeer] = []

    def account(user: str) -> str:
        return (f'[[account]]\nname = "u{user}"\nuser = "{user}"\nregistrar = "{kam.uri}"\n'
                f'password = "{users[user]}"\n')

    script = (Script().at(0.5).lift().dial("100#")
              .at(5.0).button("flash").dial("200#")  # consultation call
              .at(10.0).hang_up().idle_until(11.0))  # flash + number + hang up = attended transfer
    app = None
    try:
        bob, carol = PjPeer(tmp_path, account("100"), "bob"), PjPeer(tmp_path, account("200"), "carol")
        peers += [bob, carol]
        for p in peers:
            assert p.event("registration", timeout=20)["value"] == "registered"
        app = App(tmp_path, script.save(tmp_path / "t.hid"), config=account("300"))
        b_in = bob.event("incoming", timeout=30)
        bob.send({"kind": "answer", "call_id": b_in["call_id"]})
        c_in = carol.event("incoming", timeout=30)
        carol.send({"kind": "answer", "call_id": c_in["call_id"]})
        assert bob.event("transfer", value="requested", timeout=30)["target"].startswith("<sip:200@")
        replaced = carol.event("connected", replaces=c_in["call_id"], timeout=30)
        assert replaced["remote_number"] == "100"
        assert app.wait(60) == 0, app.output()
    finally:
        if app is not None:
            app.stop()
        for p in peers:
            p.stop()
        kam.stop()
    log = app.records()
    assert "registering with" in app.output() and "echo" not in app.output()
    first, second = [c["call_id"] for c in call_events(log, "connected")][:2]
    xfer = call_commands(log, "transfer_attended")
    assert len(xfer) == 1 and (xfer[0]["call_id"], xfer[0]["other_call_id"]) == (first, second)
    assert [e["value"] for e in call_events(log, "transfer")][-1] == "succeeded"
    hung = [c["call_id"] for c in call_commands(log, "hangup") if c["t"] > xfer[0]["t"]]
    assert first in hung  # the transferor leaves once the far ends are joined


def test_redial_key_calls_the_last_number_again(tmp_path):
    script = (Script().at(0.5).lift().dial("600#").at(4.0).hang_up()
              .at(5.0).lift().button("redial").at(8.0).hang_up().idle_until(8.5))
    app = App(tmp_path, script.save(tmp_path / "t.hid"))
    try:
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
    log = app.records()
    dials = call_commands(log, "dial")
    assert len(dials) == 2 and dials[0]["target"] == dials[1]["target"]
    assert len(call_events(log, "connected")) == 2

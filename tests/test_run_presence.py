"""`usbphone run` publishes its presence: DND → "dnd", in a call → "busy" (on the phone), else "available",
when [presence] publish is on. The watcher is a real pjsua2 peer subscribed to the appliance's account (the
peer used by tests/sip/test_sip_features.py::test_presence_of_a_buddy); a scripted trace is the handset."""

from __future__ import annotations

import pytest
from peers import PjPeer, free_port
from run_support import App, Script, call_commands

pytestmark = pytest.mark.peers


def _states(peer: PjPeer, until: str, timeout: float = 30) -> list[str]:
    """Presence values the peer saw, up to and including the next ``until``."""
    seen = []
    while True:
        value = peer.event("presence", timeout=timeout)["value"]
        seen.append(value)
        if value == until:
            return seen


def test_dnd_and_calls_are_published_to_a_watcher(tmp_path):
    port = free_port()
    script = (Script().at(4.0).lift().dial("*78").hang_up()  # DND on
              .at(8.0).lift().dial("*79").hang_up()  # DND off
              .at(11.0).lift().dial("600#")  # a call: on the phone
              .at(15.0).hang_up().idle_until(17.0))
    app = App(tmp_path, script.save(tmp_path / "t.hid"), config="[presence]\npublish = true\n",
              bind=f"127.0.0.1:{port}")
    peer = None
    try:
        app.ready()
        peer = PjPeer(tmp_path, f'[presence]\nbuddies = ["sip:usbphone@127.0.0.1:{port}"]\n', name="watcher")
        assert peer.event("presence", timeout=20)["value"] in ("available", "unknown")
        assert _states(peer, "dnd")[-1] == "dnd"
        assert "busy" not in _states(peer, "available")
        assert _states(peer, "busy")[-1] == "busy"
        assert _states(peer, "available")[-1] == "available"
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
        if peer is not None:
            peer.stop()
    published = [c["value"] for c in call_commands(app.records(), "presence")]
    assert published == ["available", "dnd", "available", "busy", "available"], published


def test_no_presence_commands_unless_publish_is_on(tmp_path):
    app = App(tmp_path, Script().at(0.5).lift().dial("*78").hang_up().idle_until(2.0).save(tmp_path / "t.hid"))
    try:
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
    assert not call_commands(app.records(), "presence")

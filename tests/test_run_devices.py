"""`usbphone run` with different handset families as the replayed handset: the mute LED handshake of a HID
headset (bytes checked in the device-write log), and the Yealink and CM109 profiles (traces made by their
simulators, committed in devices/) driving a real call to a SIPp UAS."""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import Sipp
from run_support import App, Script, call_commands, commands

pytestmark = pytest.mark.peers
DEVICES = Path(__file__).resolve().parents[1] / "devices"


def _writes_after(log, t):
    return [r["report"] for r in log if r.get("kind") == "device_write" and r["t"] >= t]


def test_hid_headset_mute_led_handshake_and_burst_is_one_press(tmp_path):
    script = (Script().at(0.5).lift().dial("600#")
              .at(4.0).button("mute", gap=0.05).button("mute")  # the headset reports one press twice
              .at(6.0).button("mute").at(7.0).hang_up().idle_until(7.5))
    app = App(tmp_path, script.save(tmp_path / "t.hid"))
    try:
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
    log = app.records()
    assert [c["command"] for c in call_commands(log) if c["command"] in ("mute", "unmute")] == ["mute", "unmute"]
    mute_leds = [c for c in commands(log, "led") if c.get("target") == "mute"]
    assert [c["value"] for c in mute_leds][:3] == ["on", "on", "off"]  # the burst is answered, not toggled
    # GN layout output report 2: b0 LED Off-Hook, b1 LED Mute (tools/gen_headset_traces.py, protocol §4.2)
    first = _writes_after(log, mute_leds[0]["t"])[0]
    assert first == "02 03 00", first
    assert _writes_after(log, mute_leds[2]["t"])[0] == "02 01 00"


def _uas_call(tmp_path, trace: Path) -> tuple[App, Sipp]:
    uas = Sipp.uas(tmp_path, scenario="uas_answer.xml")
    config = f'[dialplan]\ndomain = "127.0.0.1:{uas.port}"\n'
    return App(tmp_path, trace, config=config), uas


def _cm109_trace(path: Path) -> Path:
    """pickup, 1 2 3, let the inter-digit timer send, hang up: recorded from the CM109 simulator (KIP1000 keys)."""
    from usbphone.hid.simulators.cm109 import CM109Simulator
    from usbphone.hid.simulators.scenarios import CM109, _keys, _run

    sim = CM109Simulator()
    acts = {**_keys(sim, 0.3, [0x88, 0x14, 0x12, 0x11]), **_keys(sim, 8.0, [0x48])}  # pickup 1 2 3 ... hangup
    trace, _ = _run(CM109, sim, acts, 9.0, "CM109 KIP1000: pickup 1 2 3 (timer sends) hangup")
    trace.save(path)
    return path


@pytest.mark.parametrize("family,number", [("yealink", "55512"), ("cm109", "123")])
def test_vendor_phone_profiles_drive_a_call(tmp_path, family, number):
    if family == "yealink":
        path = DEVICES / "yealink-usb-p1k/traces/p1k-dial.hid"  # pickup 5 5 5 1 2 # ... hangup
        if not path.exists():
            pytest.skip("p1k-dial.hid not in devices/")
    else:
        path = _cm109_trace(tmp_path / "cm109.hid")
    app, uas = _uas_call(tmp_path, path)
    try:
        assert app.wait(60) == 0, app.output()
        assert uas.wait(20) == 0, uas.log()
    finally:
        app.stop()
        uas.stop()
    log = app.records()
    dial = call_commands(log, "dial")
    assert dial and dial[0]["target"] == number
    assert f"INVITE sip:{number}@127.0.0.1:{uas.port}" in uas.sent_and_received()
    assert "BYE" in uas.sent_and_received()
    if family == "yealink":  # LED/LCD commands became Yealink packets (a CM109 has only its buzzer)
        assert any(r.get("kind") == "device_write" for r in log)

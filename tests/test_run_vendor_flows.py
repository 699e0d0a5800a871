"""`usbphone run` desk-phone flows with vendor phones as the handset: a Yealink (P1K ringer + LCD, P4K flash/redial
keys and hook switch) and a CM109 phone (KIP1000 keymap, buzzer) drive incoming calls (answered, cancelled),
call waiting, hold, redial and DND against real peers (SIPp, a second pjsua2 UA, the built-in echo test).

The handsets are traces the simulators made (devices/*/traces/, usbphone/hid/simulators/scenarios.py), so the
real driver loop polls and scans as it does live. Device-level checks read the event log's ``device_write``
records back through the simulators' own decoding: Yealink packets (checksums, RINGTONE, LED, LCD segments)
and the CM109 buzzer bit (OR0 bit 5) stepping with the ring cadence.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from peers import PjPeer, Sipp, free_port
from run_support import App, call_commands, call_events, commands, uac_rejected

from usbphone.drivers.base import OutputReport
from usbphone.hid.simulators.yealink import YealinkSimulator, lcd_from_text

DEVICES = Path(__file__).resolve().parents[1] / "devices"
BUZZER = 0x20  # CM109 OR0 bit 5. source: ../shared/protocols/usb-phone-protocols.md §3.2
P1K_RING_ON = 0x24  # RINGTONE data[0]. source: §2.4 RINGTONE "P1K 0x24 = on, 0 = off"
SHORT = 'ring_cadence = "short"'  # 0.5 s on / 0.5 s off (usbphone/drivers/cadence.py): several steps per call


def _trace(rel: str) -> Path:
    path = DEVICES / f"{rel}.hid"
    if not path.exists():
        pytest.skip(f"{path} not in devices/ (python -m usbphone.hid.simulators.scenarios devices)")
    return path


def _app(tmp_path: Path, rel: str, phone: str = "") -> tuple[App, int]:
    port = free_port()
    config = f"[phone]\n{phone}\n" if phone else None
    app = App(tmp_path, _trace(rel), config=config, bind=f"127.0.0.1:{port}")
    app.ready()
    return app, port


def _writes(log: list[dict], after: float = 0.0, before: float = float("inf")) -> list[dict]:
    return [r for r in log if r.get("kind") == "device_write" and after <= r["t"] < before]


def _yealink(log: list[dict], before: float = float("inf"), model: str = "p1k") -> YealinkSimulator:
    """A simulated phone that received every logged write before ``before``: its LCD/LED/ringer state."""
    sim = YealinkSimulator(model)
    for r in _writes(log, before=before):
        sim.write(OutputReport(bytes.fromhex(r["report"]), r["transport"]))
    return sim


def _buzzer(log: list[dict], after: float, before: float = float("inf")) -> list[tuple[float, bool, bool]]:
    """(t, buzzer on?, timed?) of each CM109 write in the window."""
    return [(r["t"], bool(bytes.fromhex(r["report"])[0] & BUZZER), bool(r.get("timed")))
            for r in _writes(log, after, before)]


def _run_uac(app: App, port: int, tmp_path: Path, scenario: str, **values: str) -> list[dict]:
    uac = Sipp.uac(tmp_path, f"127.0.0.1:{port}", scenario=scenario, values=values or None)
    try:
        assert uac.wait(30) == 0, uac.log()
        assert app.wait(60) == 0, app.output()
    finally:
        uac.stop()
        app.stop()
    assert "SIP/2.0 200 OK" in uac.sent_and_received() or scenario == "uac_cancel.xml"
    return app.records()


def _answered_flow(log: list[dict]) -> tuple[dict, dict]:
    """Ring on, answered by the trace's pickup, remote BYE, idle: the Phone-level half both phones share."""
    ring = commands(log, "ring")
    assert [r["value"] for r in ring] == ["on", "off"]
    answer = call_commands(log, "answer")
    assert len(answer) == 1 and ring[0]["t"] < answer[0]["t"]
    assert ring[1]["t"] <= answer[0]["t"] + 0.1  # the pickup both stops the ringer and answers
    assert any(c["value"] == "SIPp Caller" for c in commands(log, "lcd"))
    ended = call_events(log, "ended")[0]
    assert ended["extra"]["by"] == "remote"
    assert any(c["command"] == "lcd_clear" for c in commands(log) if c["t"] >= ended["t"])
    return ring[0], ring[1]


def _cancelled_flow(log: list[dict]) -> tuple[dict, dict]:
    ring = commands(log, "ring")
    assert [r["value"] for r in ring] == ["on", "off"]
    ended = call_events(log, "ended")[0]
    assert ended["code"] == 487
    assert ring[1]["t"] - ended["t"] < 0.1  # generous: well under a millisecond in the log
    assert not call_commands(log, "answer")  # the pickup at 3 s came after the caller gave up: a dial tone
    return ring[0], ring[1]


# -- incoming calls ------------------------------------------------------------------------------------------


@pytest.mark.peers
def test_p1k_incoming_rings_with_ringtone_packets_caller_on_lcd_pickup_answers(tmp_path):
    app, port = _app(tmp_path, "yealink-usb-p1k/traces/p1k-incoming")  # pickup at 3 s, hangup at 9 s
    log = _run_uac(app, port, tmp_path, "uac_call.xml", talk_ms="2000")
    ring_on, ring_off = _answered_flow(log)
    ringing = _yealink(log, before=ring_off["t"])  # the phone as it was while ringing
    assert ringing.bad_writes == 0  # every packet had a valid checksum
    assert [p.data[0] for p in ringing.commands("RINGTONE")] == [P1K_RING_ON]
    assert ringing.state["LED"] == 1  # profile led_polarity on_is_1
    assert bytes(ringing.lcd) == lcd_from_text("SIPp Caller")  # LCD packets drew the caller on line 3
    done = _yealink(log)
    assert done.bad_writes == 0 and done.state["RINGTONE"] == 0 and done.state["LED"] == 0
    assert not any(done.lcd)  # idle: LCD cleared
    first_off = next(r for r in _writes(log, ring_off["t"]) if r["report"].startswith("03"))
    assert first_off["t"] - ring_off["t"] < 0.1


@pytest.mark.peers
def test_b2k_incoming_ring_switched_with_cadence_lift_answers(tmp_path):
    """The B2K has no melody ringer: the host switches B2K_RING (0x01) on and off with the cadence (§2.4)."""
    app, port = _app(tmp_path, "yealink-usb-p1k/traces/b2k-incoming", SHORT)  # lift at 3 s, hang up at 9 s
    log = _run_uac(app, port, tmp_path, "uac_call.xml", talk_ms="2000")
    ring_on, ring_off = _answered_flow(log)
    assert [e["value"] for e in log if e.get("kind") == "handset_event" and e["event"] == "hook"] == ["off", "on"]
    ring = [(r["t"], bytes.fromhex(r["report"])[4], bool(r.get("timed")))  # G1 packet: data[0] is byte 4
            for r in _writes(log, ring_on["t"]) if r["report"].startswith("01 ")]
    during, after = [s for s in ring if s[0] < ring_off["t"]], [s for s in ring if s[0] >= ring_off["t"]]
    assert during[0][1:] == (1, False) and len(during) >= 3 and all(timed for _, _, timed in during[1:]), ring
    assert [v for _, v, _ in during] == [1, 0] * (len(during) // 2) + [1] * (len(during) % 2)
    assert after and after[0][1] == 0 and after[0][0] - ring_off["t"] < 0.1 and not any(v for _, v, _ in after)
    device = _yealink(log, model="b2k")
    assert device.bad_writes == 0 and device.state["B2K_RING"] == 0
    assert not device.commands("LCD")  # no display on a B2K: the caller-ID text is dropped


@pytest.mark.peers
def test_p1k_caller_cancels_ringtone_off_at_once(tmp_path):
    app, port = _app(tmp_path, "yealink-usb-p1k/traces/p1k-incoming")
    log = _run_uac(app, port, tmp_path, "uac_cancel.xml")
    ring_on, ring_off = _cancelled_flow(log)
    assert _yealink(log, before=ring_off["t"]).state["RINGTONE"] == P1K_RING_ON
    after = _yealink(log, before=ring_off["t"] + 0.1)
    assert after.bad_writes == 0 and after.state["RINGTONE"] == 0 and after.state["LED"] == 0


@pytest.mark.peers
def test_cm109_incoming_buzzer_follows_cadence_pickup_answers(tmp_path):
    app, port = _app(tmp_path, "cm109-usb-phone/traces/kip1000-incoming", SHORT)  # pickup 3 s, hangup 9 s
    log = _run_uac(app, port, tmp_path, "uac_call.xml", talk_ms="2000")
    ring_on, ring_off = _answered_flow(log)
    steps = _buzzer(log, ring_on["t"])
    on_cmd, cadence = steps[0], [s for s in steps if s[0] < ring_off["t"]][1:]
    assert on_cmd[1] and not on_cmd[2]  # `ring on` itself sets OR0 bit 5
    assert len(cadence) >= 2 and all(timed for _, _, timed in cadence), steps
    levels = [on_cmd[1]] + [on for _, on, _ in cadence]
    assert all(a != b for a, b in zip(levels, levels[1:], strict=False)), levels  # toggles, never repeats
    gaps = [b[0] - a[0] for a, b in zip([on_cmd, *cadence], cadence, strict=False)]
    assert all(0.3 < g < 1.0 for g in gaps), gaps  # 0.5 s steps (generous bounds: shared CPUs)
    off = [s for s in steps if s[0] >= ring_off["t"]]
    assert off and not off[0][1] and off[0][0] - ring_off["t"] < 0.1
    assert not any(on for _, on, _ in off)  # silent after the pickup


@pytest.mark.peers
def test_cm109_caller_cancels_buzzer_off_at_once(tmp_path):
    app, port = _app(tmp_path, "cm109-usb-phone/traces/kip1000-incoming", SHORT)
    log = _run_uac(app, port, tmp_path, "uac_cancel.xml")
    ring_on, ring_off = _cancelled_flow(log)
    steps = _buzzer(log, ring_on["t"])
    assert steps[0][1]
    off = [s for s in steps if s[0] >= ring_off["t"]]
    assert off and not off[0][1] and off[0][0] - ring_off["t"] < 0.1
    assert not any(on for _, on, _ in off)


# -- call waiting, hold, redial, DND -------------------------------------------------------------------------


def _cmds(log, *kinds):
    return [(c["command"], c.get("call_id")) for c in call_commands(log) if c["command"] in kinds]


def _call_waiting(tmp_path: Path, rel: str, peer_sees: tuple[str, ...]) -> list[dict]:
    """The trace dials the echo test; once connected a second pjsua2 UA calls in and sees ``peer_sees``
    ("held" = held by us, "ended" = we hung up)."""
    peer = PjPeer(tmp_path, name="caller")  # started first: it must call before the trace answers at 5 s
    app = None
    try:
        app, port = _app(tmp_path, rel)
        app.wait_for(lambda r: r.get("event") == "connected", 20, "echo call connected")
        peer.send({"kind": "dial", "target": f"sip:usbphone@127.0.0.1:{port}"})
        assert peer.event("connected", timeout=20)
        for kind in peer_sees:
            ev = peer.event(kind, timeout=20)
            assert kind == "resumed" or ev["by"] == "remote", ev
        assert app.wait(60) == 0, app.output()
    finally:
        if app is not None:
            app.stop()
        peer.stop()
    log = app.records()
    assert [c["value"] for c in commands(log, "tone")].count("call_waiting") == 1
    assert "Traceback" not in app.output() and "no LCD icon" not in app.output()
    return log


@pytest.mark.peers
def test_p4k_call_waiting_flash_swaps_and_held_call_rings_back(tmp_path):
    log = _call_waiting(tmp_path, "yealink-usb-p1k/traces/p4k-call-waiting", ("held", "resumed", "ended"))
    echo_id, waiting_id = call_events(log, "connected")[0]["call_id"], call_events(log, "incoming")[0]["call_id"]
    assert _cmds(log, "hold", "answer", "resume", "hangup") == [
        ("hold", echo_id), ("answer", waiting_id),  # FLASH 1 (scan code 0x15)
        ("hold", waiting_id), ("resume", echo_id),  # FLASH 2: swap
        ("hangup", echo_id),  # handset down (HOOKPRESS bit 4): the held caller rings back...
        ("resume", waiting_id),  # ...lifting takes it
        ("hangup", waiting_id),
    ]
    hangup_t = next(c["t"] for c in call_commands(log, "hangup"))
    assert [c["value"] for c in commands(log, "ring") if c["t"] > hangup_t] == ["on", "off"]
    assert [e["value"] for e in (r for r in log if r.get("kind") == "handset_event")
            if e["event"] == "button"] == ["flash", "flash"]
    assert _yealink(log, model="p4k").bad_writes == 0


@pytest.mark.peers
def test_cm109_call_waiting_answered_with_pickup_then_held_call_taken_back(tmp_path):
    """The KIP1000 has no flash key and no hook switch: pickup answers the waiting call (holding the first),
    hangup ends it, pickup takes the held call back (the Phone fix this flow found)."""
    log = _call_waiting(tmp_path, "cm109-usb-phone/traces/kip1000-call-waiting", ("ended",))
    echo_id, waiting_id = call_events(log, "connected")[0]["call_id"], call_events(log, "incoming")[0]["call_id"]
    assert _cmds(log, "hold", "answer", "resume", "hangup") == [
        ("hold", echo_id), ("answer", waiting_id), ("hangup", waiting_id), ("resume", echo_id), ("hangup", echo_id)]
    assert not commands(log, "ring")


def _redial_dnd(tmp_path: Path, rel: str) -> list[dict]:
    """The trace calls 600, redials it, turns DND on; then a SIPp caller must get 486 without any ringing."""
    app, port = _app(tmp_path, rel)
    try:
        app.wait_for(lambda r: r.get("command") == "lcd" and r.get("value") == "DND on", 40, "DND on")
        time.sleep(0.5)
        uac = uac_rejected(tmp_path, f"127.0.0.1:{port}", 486)
        try:
            assert uac.wait(30) == 0, uac.log()
        finally:
            uac.stop()
        assert app.wait(60) == 0, app.output()
    finally:
        app.stop()
    log = app.records()
    dials = call_commands(log, "dial")
    assert [d["target"] for d in dials] == ["600", "600"]
    assert len(call_events(log, "connected")) == 2
    assert not commands(log, "ring")
    assert call_commands(log, "reject")[0]["code"] == 486
    assert any(c.get("target") == "dnd" and c["value"] == "on" for c in commands(log, "led"))
    assert "Traceback" not in app.output() and "no LCD icon" not in app.output()  # line-2 text: no warnings
    return log


@pytest.mark.peers
def test_p4k_hold_resume_redial_key_and_dnd_code(tmp_path):
    log = _redial_dnd(tmp_path, "yealink-usb-p1k/traces/p4k-redial-hold-dnd")
    first = call_events(log, "connected")[0]["call_id"]
    assert _cmds(log, "hold", "resume")[:2] == [("hold", first), ("resume", first)]  # FLASH, FLASH
    buttons = [r["value"] for r in log if r.get("kind") == "handset_event" and r["event"] == "button"]
    assert buttons == ["flash", "flash", "redial"]
    redial_t = call_commands(log, "dial")[1]["t"]
    at_redial = _yealink(log, before=redial_t, model="p4k")
    assert at_redial.bad_writes == 0 and at_redial.line3().strip() == "600"  # the redialled number on the LCD


@pytest.mark.peers
def test_cm109_redial_and_dnd_feature_codes(tmp_path):
    log = _redial_dnd(tmp_path, "cm109-usb-phone/traces/kip1000-redial-dnd")
    keys = [r["value"] for r in log if r.get("kind") == "handset_event" and r["event"] == "key"]
    assert keys == list("600#*0*78")  # *0 = redial, *78 = DND on (usbphone/phone/dialplan.py FeatureCodes)
    assert not any(on for _, on, _ in _buzzer(log, 0.0))  # DND: the buzzer never sounded


# -- the runner reports cadence steps (in process, no peers) --------------------------------------------------


def test_runner_reports_cm109_cadence_steps_as_timed_writes():
    from usbphone.drivers import driver_class
    from usbphone.events import HandsetCommand
    from usbphone.hid.runner import DeviceRunner
    from usbphone.hid.simulators.cm109 import CM109Simulator
    from usbphone.profiles.loader import profile_by_id
    from usbphone.profiles.schema import DeviceInfo

    profile = profile_by_id("cm109-usb-phone")
    driver = driver_class(profile.driver)(profile, DeviceInfo(vid=0x0D8C, pid=0x000E, name="CM109"))
    sim = CM109Simulator()
    timed: list[OutputReport] = []
    runner = DeviceRunner(driver, sim, lambda ev: None)
    runner.on_timed = timed.append
    runner.start()
    try:
        assert runner.send(HandsetCommand("ring", "on", target="short"))[0].data[0] & BUZZER
        deadline = time.monotonic() + 10
        while len(timed) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.send(HandsetCommand("ring", "off"))
    finally:
        runner.stop()
    levels = [bool(o.data[0] & BUZZER) for o in timed[:3]]
    assert levels == [False, True, False] and all(o.timed for o in timed)
    assert sim.buzzer_changes[:4] == [True, False, True, False]  # the phone heard the same steps


def test_replayed_yealink_has_the_capabilities_of_the_model_its_replies_name():
    """A live Yealink is probed (VERSION/INIT) before use; a replay reads the same replies from the trace."""
    from usbphone.handsets import open_replay

    p4k, _, _ = open_replay(str(_trace("yealink-usb-p1k/traces/p4k-call-waiting")), lambda ev: None)
    assert p4k.caps.hook and p4k.caps.hook_kind == "absolute" and p4k.caps.speaker and not p4k.caps.ringer
    assert {"flash", "redial"} <= p4k.caps.buttons and "model P4K (version 0x0240)" in p4k.caps.notes
    p1k, _, _ = open_replay(str(_trace("yealink-usb-p1k/traces/p1k-incoming")), lambda ev: None)
    assert not p1k.caps.hook and p1k.caps.ringer and p1k.caps.lcd and "flash" not in p1k.caps.buttons

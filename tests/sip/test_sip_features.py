"""Transfers (blind in, attended among three registered accounts), presence, mute, SRTP — real peers."""

from __future__ import annotations

import subprocess

import numpy as np
import pjsua2 as pj
import pytest
from test_sip_registrar import USERS, account

pytestmark = pytest.mark.peers


def test_attended_transfer_among_three_registered_accounts(make_core, kamailio, pjpeer):
    kam = kamailio(USERS)
    bob = pjpeer(account(kam, "bob"), name="bob")
    carol = pjpeer(account(kam, "carol"), name="carol")
    for p in (bob, carol):
        assert p.event("registration")["value"] == "registered"
    alice = make_core(account(kam, "alice"))
    alice.wait("registration", value="registered")

    to_bob = alice.run("dial", target="bob")
    b_in = bob.event("incoming")
    bob.send({"kind": "answer", "call_id": b_in["call_id"]})
    alice.wait("connected", call_id=to_bob)
    alice.run("hold", call_id=to_bob)
    alice.wait("held", call_id=to_bob, timeout=15)  # a 491/500 refusal is retried after up to 4 s

    to_carol = alice.run("dial", target="carol")
    c_in = carol.event("incoming")
    carol.send({"kind": "answer", "call_id": c_in["call_id"]})
    alice.wait("connected", call_id=to_carol)

    alice.run("transfer_attended", call_id=to_bob, other_call_id=to_carol)
    assert bob.event("transfer", value="requested")["target"].startswith("<sip:carol@")
    replaced = carol.event("connected", replaces=c_in["call_id"])
    assert replaced["remote_number"] == "bob"
    alice.wait("transfer", call_id=to_bob, value="succeeded")
    alice.wait("ended", call_id=to_carol)  # carol dropped alice's leg: it was replaced
    alice.run("hangup", call_id=to_bob)
    alice.wait("ended", call_id=to_bob)
    # bob and carol still talk to each other; bob hangs up and carol sees it
    bob_new = bob.event("connected", direction="out")
    bob.send({"kind": "hangup", "call_id": bob_new["call_id"]})
    assert carol.event("ended", call_id=replaced["call_id"])["by"] == "remote"


def test_incoming_blind_transfer_is_followed(make_core, pjpeer, sipp_uas):
    target = sipp_uas("uas_answer.xml")
    dut = make_core("")
    peer = pjpeer("")
    pid = peer.send({"kind": "dial", "target": f"sip:usbphone@{dut.address}"})
    inc = dut.wait("incoming")
    dut.run("answer", call_id=inc.call_id)
    dut.wait("connected", call_id=inc.call_id)
    peer.event("connected", call_id=pid)
    peer.send({"kind": "transfer_blind", "call_id": pid, "target": target.uri("300")})
    req = dut.wait("transfer", call_id=inc.call_id, value="requested")
    assert req.remote_number == "300"
    new = dut.wait("connected", remote_number="300")
    assert new.call_id != inc.call_id and new.extra["transferred_from"] == inc.call_id
    peer.event("transfer", call_id=pid, value="succeeded")
    peer.send({"kind": "hangup", "call_id": pid})
    dut.wait("ended", call_id=inc.call_id)
    dut.run("hangup", call_id=new.call_id)
    dut.wait("ended", call_id=new.call_id)
    assert target.wait() == 0, target.log()


def test_presence_of_a_buddy(make_core, pjpeer):
    peer = pjpeer("")
    dut = make_core(f'[presence]\nbuddies = ["sip:usbphone@{peer.address}"]\n')
    assert dut.wait("presence").value in ("available", "unknown")
    for state in ("busy", "dnd", "available"):
        peer.send({"kind": "presence", "value": state})
        ev = dut.wait("presence", value=state)
        assert ev.remote_number == "usbphone"


class ToneHook:
    """A test AudioHook: a 1 kHz pjsua2 tone is the 'microphone' of every call."""

    def __init__(self) -> None:
        self.gens: dict[int, pj.ToneGenerator] = {}
        self.events: list[str] = []

    def on_endpoint_started(self) -> None:
        self.events.append("started")

    def connect(self, call_id: int, aud_med: pj.AudioMedia) -> None:
        gen = pj.ToneGenerator()
        gen.createToneGenerator(8000, 1)
        tone = pj.ToneDesc()
        tone.freq1, tone.freq2, tone.on_msec, tone.off_msec, tone.volume = 1000, 0, 10000, 0, 0
        tones = pj.ToneDescVector()
        tones.append(tone)
        gen.play(tones, True)
        gen.startTransmit(aud_med)
        self.gens[call_id] = gen
        self.events.append(f"connect {call_id}")

    def disconnect(self, call_id: int) -> None:
        self.gens.pop(call_id, None)
        self.events.append(f"disconnect {call_id}")

    def close(self) -> None:
        self.gens.clear()
        self.events.append("close")


def _sent_pcmu_levels(pcap: str, dst_port: int) -> list[float]:
    """RMS of the µ-law audio sent to ``dst_port``, per 100 ms."""
    from test_sip_dtmf import _ulaw_to_linear

    out = subprocess.run(["tshark", "-r", pcap, "-o", "rtp.heuristic_rtp:TRUE", "-Y",
                          f"rtp && udp.dstport == {dst_port} && rtp.p_type == 0", "-T", "fields",
                          "-e", "rtp.payload"], capture_output=True, text=True, timeout=60).stdout.split()
    pcm = _ulaw_to_linear(b"".join(bytes.fromhex(p.replace(":", "")) for p in out)).astype(float)
    return [float(np.sqrt(np.mean(pcm[i:i + 800] ** 2))) for i in range(0, len(pcm) - 800, 800)]


def test_mute_sends_silence_and_unmute_restores_audio(make_core, sipp_uas, capture):
    hook = ToneHook()
    cap = capture()
    uas = sipp_uas("uas_answer.xml")
    dut = make_core('[sip]\ncodecs = ["PCMU"]\n', audio=hook)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.drain(1.0)
    dut.run("mute", call_id=cid)
    dut.drain(1.0)
    dut.run("unmute", call_id=cid)
    dut.drain(1.0)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0
    levels = _sent_pcmu_levels(str(cap.finish().pcap), uas.media_port)
    loud = [i for i, lv in enumerate(levels) if lv > 1000]
    # tone, then (muted) silence while RTP keeps flowing, then tone again
    gaps = [(a, b) for a, b in zip(loud, loud[1:], strict=False) if b - a > 1]
    assert len(gaps) == 1, [round(lv) for lv in levels]
    start, end = gaps[0]
    assert end - start - 1 >= 7 and all(lv < 50 for lv in levels[start + 1:end]), [round(lv) for lv in levels]
    assert hook.events[0] == "started" and f"connect {cid}" in hook.events and f"disconnect {cid}" in hook.events


def test_srtp_mandatory_call(make_core, pjpeer, capture):
    lan = '[[account]]\nname = "lan"\nuser = "usbphone"\nsrtp = "mandatory"\n'
    cap = capture()
    peer = pjpeer(lan)
    dut = make_core(lan)
    cid = dut.run("dial", target=peer.uri())
    inc = peer.event("incoming")
    peer.send({"kind": "answer", "call_id": inc["call_id"]})
    dut.wait("connected", call_id=cid)
    dut.drain(0.5)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    media = cap.finish().fields(f"sdp && udp.port == {peer.port}", "sdp.media", decode=[f"udp.port=={peer.port},sip"])
    assert len(media) >= 2 and all("RTP/SAVP" in m[0] for m in media), media  # offer and answer


def test_ice_on_a_loopback_bind_is_switched_off_with_a_notice(make_core, pjpeer):
    """ICE needs candidates and pjnath gathers none on loopback (the only network tests may use)."""
    peer = pjpeer("[sip]\nauto_answer = true\n")
    dut = make_core("[sip]\nice = true\n")
    assert "ICE is off" in dut.core.notice
    cid = dut.run("dial", target=peer.uri())
    dut.wait("connected", call_id=cid)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)


def test_srtp_optional_falls_back_to_plain_rtp(make_core, sipp_uas):
    uas = sipp_uas("uas_answer.xml")  # answers RTP/AVP only
    dut = make_core('[[account]]\nname = "lan"\nuser = "usbphone"\nsrtp = "optional"\n')
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def test_srtp_mandatory_refuses_a_peer_without_srtp(make_core, pjpeer):
    peer = pjpeer("[sip]\nauto_answer = true\n")  # SRTP off
    dut = make_core('[[account]]\nname = "lan"\nuser = "usbphone"\nsrtp = "mandatory"\n')
    cid = dut.run("dial", target=peer.uri())
    ended = dut.wait("ended", call_id=cid)
    assert ended.extra["connected"] is False and ended.code == 488, ended

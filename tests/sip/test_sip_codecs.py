"""Codecs: G.711 µ/A-law and G.722 against baresip (real RTP both ways), GSM and iLBC against a second
pjsua2 endpoint; the configured priority order decides what is negotiated. tshark checks the wire."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.peers

# tshark's payload names for the codecs (RTP stream table)
WIRE_NAME = {"PCMU": "g711U", "PCMA": "g711A", "G722": "g722", "GSM": "GSM", "iLBC": "iLBC"}


def _talk(dut, cid, seconds: float = 1.5) -> dict:
    dut.wait("connected", call_id=cid)
    dut.drain(0.3)
    info = dut.core.call_info(cid)
    dut.drain(seconds)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    return info


def _assert_both_directions(cap, info: dict, codec: str) -> None:
    streams = cap.finish().rtp_between(info["rtp_local"], info["rtp_remote"])
    assert len(streams) == 2, (info, cap.rtp_streams())
    for s in streams:
        assert s["payload"] == WIRE_NAME[codec] and s["packets"] >= 40 and s["lost"] == 0, streams


@pytest.mark.parametrize("codec", ["PCMU", "PCMA", "G722"])
def test_baresip_call_with_real_rtp_both_ways(make_core, baresip, capture, codec):
    peer = baresip(("g711", "g722"))
    cap = capture()
    dut = make_core(f'[sip]\ncodecs = ["{codec}"]\n')
    cid = dut.run("dial", target=peer.uri())
    info = _talk(dut, cid)
    assert info["codec"].split("/")[0] == codec
    _assert_both_directions(cap, info, codec)


@pytest.mark.parametrize("codec", ["GSM", "iLBC"])
def test_gsm_and_ilbc_against_a_second_pjsua2_endpoint(make_core, pjpeer, capture, codec):
    peer = pjpeer("")  # offers/accepts every codec it has
    cap = capture()
    dut = make_core(f'[sip]\ncodecs = ["{codec}"]\n')
    cid = dut.run("dial", target=peer.uri())
    inc = peer.event("incoming")
    peer.send({"kind": "answer", "call_id": inc["call_id"]})
    info = _talk(dut, cid)
    assert info["codec"].split("/")[0] == codec
    _assert_both_directions(cap, info, codec)


def test_priority_order_picks_the_first_codec_the_peer_has(make_core, baresip):
    peer = baresip(("g711", "g722"))
    dut = make_core('[sip]\ncodecs = ["iLBC", "G722", "PCMU"]\n')  # baresip has no iLBC
    cid = dut.run("dial", target=peer.uri())
    dut.wait("connected", call_id=cid)
    assert dut.core.call_info(cid)["codec"] == "G722/16000"
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)


def test_answer_never_picks_a_codec_we_did_not_list(make_core, pjpeer):
    dut = make_core('[sip]\ncodecs = ["PCMA", "PCMU"]\n')
    peer = pjpeer('[sip]\ncodecs = ["G722", "GSM", "PCMU", "PCMA"]\n')
    pid = peer.send({"kind": "dial", "target": f"sip:usbphone@{dut.address}"})
    inc = dut.wait("incoming")
    dut.run("answer", call_id=inc.call_id)
    dut.wait("connected", call_id=inc.call_id)
    # the offerer's order wins among the codecs both sides have (pjmedia's default); ours are the only ones
    assert dut.core.call_info(inc.call_id)["codec"] == "PCMU/8000"
    peer.send({"kind": "hangup", "call_id": pid})
    dut.wait("ended", call_id=inc.call_id)

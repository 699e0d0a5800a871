"""DTMF out (RFC 4733 on the wire via tshark, SIP INFO via SIPp, in-band tones decoded from the RTP) and in."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

pytestmark = pytest.mark.peers

# DTMF row/column frequencies (Hz); source: ITU-T Q.23
ROWS, COLS = (697, 770, 852, 941), (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")


def test_rfc4733_digits_on_the_wire(make_core, sipp_uas, capture):
    cap = capture()
    uas = sipp_uas("uas_answer.xml")
    dut = make_core("")
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("dtmf", call_id=cid, digits="159#")
    dut.drain(1.5)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()
    assert cap.finish().rtp_events(101, port=uas.media_port) == "159#"


@pytest.mark.parametrize("config,override", [('[sip]\ndtmf = "info"\n', ""), ("", "info")])
def test_sip_info_dtmf(make_core, sipp_uas, config, override):
    uas = sipp_uas("uas_info_dtmf.xml")
    dut = make_core(config)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("dtmf", call_id=cid, digits="5", value=override)  # value: this command's method, if given
    dut.drain(0.5)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def _ulaw_to_linear(data: bytes) -> np.ndarray:
    """G.711 µ-law bytes -> int16 samples (ITU-T G.711 expansion)."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _rms(block: np.ndarray) -> float:
    return float(np.sqrt(np.mean(block.astype(float) ** 2)))


def _dtmf_digit(block: np.ndarray, floor: float, rate: int = 8000) -> str:
    """The keypad digit whose row and column tones dominate ``block`` ('' when quieter than ``floor``)."""
    if _rms(block) < floor:
        return ""
    spec = np.abs(np.fft.rfft(block * np.hanning(len(block))))
    freqs = np.fft.rfftfreq(len(block), 1 / rate)

    def power(f: float) -> float:
        return float(spec[np.argmin(np.abs(freqs - f))])

    row = max(range(4), key=lambda i: power(ROWS[i]))
    col = max(range(4), key=lambda i: power(COLS[i]))
    return KEYPAD[row][col]


def test_inband_fallback_when_peer_has_no_telephone_event(make_core, sipp_uas, capture, tmp_path):
    cap = capture()
    uas = sipp_uas("uas_no_te.xml")
    dut = make_core("")
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.drain(0.3)
    dut.run("dtmf", call_id=cid, digits="37")
    dut.drain(1.2)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()
    cap.finish()
    assert cap.rtp_events(101, port=uas.media_port) == ""  # no RFC 4733 events ...
    # ... but the tones are in the PCMU audio we sent to SIPp's media port
    out = subprocess.run(
        ["tshark", "-r", str(cap.pcap), "-o", "rtp.heuristic_rtp:TRUE", "-Y",
         f"rtp && udp.dstport == {uas.media_port} && rtp.p_type == 0", "-T", "fields", "-e", "rtp.payload"],
        capture_output=True, text=True, timeout=60).stdout.split()
    pcm = _ulaw_to_linear(b"".join(bytes.fromhex(p.replace(":", "")) for p in out))
    assert len(pcm) > 8000, "expected over a second of PCMU from the call"
    blocks = [pcm[i:i + 400] for i in range(0, len(pcm) - 400, 400)]  # 50 ms
    floor = 0.5 * max(_rms(b) for b in blocks)  # skip blocks a tone only starts or ends in
    digits = [d for d in (_dtmf_digit(b, floor) for b in blocks) if d]
    heard = "".join(d for i, d in enumerate(digits) if i == 0 or digits[i - 1] != d)
    assert heard == "37", [_dtmf_digit(b, floor) or "." for b in blocks]


def test_dtmf_in_from_rfc4733(make_core, sipp_uac):
    dut = make_core("")
    uac = sipp_uac(dut.address, "uac_dtmf.xml")
    inc = dut.wait("incoming")
    dut.run("answer", call_id=inc.call_id)
    ev = dut.wait("dtmf", call_id=inc.call_id)
    assert (ev.value, ev.extra["method"]) == ("1", "rfc4733")
    dut.wait("ended", call_id=inc.call_id)
    assert uac.wait() == 0, uac.log()


def test_bad_digits_are_refused(make_core, sipp_uas):
    from usbphone.sip.core import CallError

    uas = sipp_uas("uas_answer.xml")
    dut = make_core("")
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    with pytest.raises(CallError, match="digits are 0-9"):
        dut.run("dtmf", call_id=cid, digits="12x")
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0

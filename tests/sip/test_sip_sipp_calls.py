"""CallCore against real SIPp peers: outgoing/incoming calls, reject codes, CANCEL, remote BYE, hold, REFER.

Each SIPp scenario (tests/sip/scenarios/) checks the SIP side itself (SIPp exits 0 only when every message
matched), and the test checks the CallEvents the core reported.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.peers

NO_REGISTRAR = ""  # default config: no accounts, inbound from loopback/local networks


def test_outgoing_call_rings_connects_and_hangs_up(make_core, sipp_uas):
    uas = sipp_uas("uas_answer.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri("100"))
    assert isinstance(cid, int)
    ring = dut.wait("ringing", call_id=cid)
    assert ring.code == 180 and ring.extra["early_media"] is False
    conn = dut.wait("connected", call_id=cid)
    assert conn.remote_number == "100"
    dut.run("hangup", call_id=cid)
    ended = dut.wait("ended", call_id=cid)
    assert (ended.code, ended.extra["by"], ended.extra["connected"]) == (200, "local", True)
    assert uas.wait() == 0, uas.log()


@pytest.mark.parametrize("code,reason", [(486, "Busy Here"), (603, "Decline"), (404, "Not Found")])
def test_outgoing_call_rejected_reports_code_and_reason(make_core, sipp_uas, code, reason):
    uas = sipp_uas("uas_reject.xml", values={"code": str(code), "reason": reason})
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    ended = dut.wait("ended", call_id=cid)
    assert (ended.code, ended.reason, ended.extra["connected"]) == (code, reason, False)
    assert uas.wait() == 0, uas.log()


def test_cancel_while_ringing_with_early_media(make_core, sipp_uas):
    uas = sipp_uas("uas_ring_cancel.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    ring = dut.wait("ringing", call_id=cid)
    assert ring.code == 183 and ring.extra["early_media"] is True
    dut.run("hangup", call_id=cid)
    ended = dut.wait("ended", call_id=cid)
    assert ended.code == 487 and ended.extra["by"] == "local"
    assert uas.wait() == 0, uas.log()
    assert "CANCEL sip:" in uas.sent_and_received()


def test_remote_hangup(make_core, sipp_uas):
    uas = sipp_uas("uas_remote_bye.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    ended = dut.wait("ended", call_id=cid, timeout=10)
    assert ended.extra["by"] == "remote" and ended.extra["connected"] is True
    assert uas.wait() == 0, uas.log()


def test_hold_and_resume_send_reinvites(make_core, sipp_uas):
    uas = sipp_uas("uas_hold.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("hold", call_id=cid)
    assert dut.wait("held", call_id=cid).extra["by"] == "local"
    dut.run("resume", call_id=cid)
    dut.wait("resumed", call_id=cid)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def test_remote_hold_is_reported(make_core, sipp_uas):
    uas = sipp_uas("uas_remote_hold.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    assert dut.wait("held", call_id=cid).extra["by"] == "remote"
    assert dut.wait("resumed", call_id=cid).extra["by"] == "remote"
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def test_blind_transfer_sends_refer_and_reports_success(make_core, sipp_uas):
    uas = sipp_uas("uas_refer.xml", values={"refer_to": "sip:200@127.0.0.1"})
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("transfer_blind", call_id=cid, target="sip:200@127.0.0.1")
    assert dut.wait("transfer", call_id=cid, value="succeeded").code == 200
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def test_incoming_call_caller_id_answer_and_remote_bye(make_core, sipp_uac):
    dut = make_core(NO_REGISTRAR)
    uac = sipp_uac(dut.address, "uac_call.xml", values={"talk_ms": "800"})
    inc = dut.wait("incoming")
    assert (inc.remote_number, inc.remote_name, inc.extra["waiting"]) == ("5551234", "SIPp Caller", False)
    dut.run("answer", call_id=inc.call_id)
    dut.wait("connected", call_id=inc.call_id)
    ended = dut.wait("ended", call_id=inc.call_id)
    assert ended.extra["by"] == "remote"
    assert uac.wait() == 0, uac.log()


@pytest.mark.parametrize("code", [486, 603])
def test_incoming_call_rejected_with_code(make_core, sipp_uac, code):
    dut = make_core(NO_REGISTRAR)
    uac = sipp_uac(dut.address, "uac_rejected.xml", values={"code": str(code)})
    inc = dut.wait("incoming")
    dut.run("reject", call_id=inc.call_id, code=code)
    assert dut.wait("ended", call_id=inc.call_id).code == code
    assert uac.wait() == 0, uac.log()


def test_incoming_call_cancelled_by_caller(make_core, sipp_uac):
    dut = make_core(NO_REGISTRAR)
    uac = sipp_uac(dut.address, "uac_cancel.xml")
    inc = dut.wait("incoming")
    ended = dut.wait("ended", call_id=inc.call_id)
    assert ended.code == 487 and ended.extra["by"] == "remote"
    assert uac.wait() == 0, uac.log()


def test_call_waiting_second_incoming_call_while_in_a_call(make_core, sipp_uac):
    dut = make_core(NO_REGISTRAR)
    first = sipp_uac(dut.address, "uac_call.xml", values={"talk_ms": "4000"})
    inc1 = dut.wait("incoming")
    dut.run("answer", call_id=inc1.call_id)
    dut.wait("connected", call_id=inc1.call_id)
    second = sipp_uac(dut.address, "uac_call.xml", values={"talk_ms": "500"})
    inc2 = dut.wait("incoming")
    assert inc2.call_id != inc1.call_id and inc2.extra["waiting"] is True
    dut.run("answer", call_id=inc2.call_id)
    dut.wait("connected", call_id=inc2.call_id)
    dut.wait("ended", call_id=inc2.call_id)
    dut.wait("ended", call_id=inc1.call_id)
    assert second.wait() == 0, second.log()
    assert first.wait() == 0, first.log()


def test_auto_answer(make_core, sipp_uac):
    dut = make_core("[sip]\nauto_answer = true\n")
    uac = sipp_uac(dut.address, "uac_call.xml", values={"talk_ms": "300"})
    inc = dut.wait("incoming")
    dut.wait("connected", call_id=inc.call_id)
    dut.wait("ended", call_id=inc.call_id)
    assert uac.wait() == 0, uac.log()


def test_unknown_call_and_bad_reject_code_are_clear_errors(make_core):
    from usbphone.sip.core import CallError

    dut = make_core(NO_REGISTRAR)
    with pytest.raises(CallError, match="no call with id 3"):
        dut.run("hangup", call_id=3)
    with pytest.raises(CallError, match="cannot dial"):
        dut.run("dial", target="not a uri")
    # pjsua2 refuses this one inside makeCall; the error must not keep the Call object alive past
    # libDestroy (that aborted the whole process before core.py raised outside the except block)
    with pytest.raises(CallError, match=r"dial sip:\[ failed"):
        dut.run("dial", target="sip:[")


def test_hold_refused_with_491_is_retried(make_core, sipp_uas):
    uas = sipp_uas("uas_hold_glare.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("hold", call_id=cid)
    assert dut.wait("held", call_id=cid, timeout=8).extra["by"] == "local"  # after 2.1-4 s (RFC 3261 §14.1)
    dut.run("resume", call_id=cid)
    dut.wait("resumed", call_id=cid)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def test_blind_transfer_refused_reports_failure(make_core, sipp_uas):
    uas = sipp_uas("uas_refer_refused.xml")
    dut = make_core(NO_REGISTRAR)
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    dut.run("transfer_blind", call_id=cid, target="sip:200@127.0.0.1")
    failed = dut.wait("transfer", call_id=cid, value="failed")
    assert failed.code == 403
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0, uas.log()


def test_call_id_reused_after_an_ended_call_keeps_working(make_core, sipp_uas, sipp_uac):
    """pjsua reuses call ids; releasing the ended call's object must never touch the new call."""
    uas = sipp_uas("uas_answer.xml")
    dut = make_core("[sip]\nmax_calls = 1\n")  # one slot: the next call must reuse id 0
    first = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=first)
    dut.run("hangup", call_id=first)
    dut.wait("ended", call_id=first)
    uac = sipp_uac(dut.address, "uac_call.xml", values={"talk_ms": "1000"})
    inc = dut.wait("incoming")
    assert inc.call_id == first  # the same pjsua slot
    dut.run("answer", call_id=inc.call_id)  # (releases the ended call's object first)
    dut.wait("connected", call_id=inc.call_id)
    assert dut.wait("ended", call_id=inc.call_id).extra["by"] == "remote"
    assert uac.wait() == 0, uac.log()
    assert uas.wait() == 0

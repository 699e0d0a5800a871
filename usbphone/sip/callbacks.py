"""pjsua2 subclasses whose callbacks turn SIP happenings into CallEvents (runs on pjsua's threads).

Rules for everything in here: callbacks run on pjsua's worker thread (or inside a pjsua2 call we made);
they read state, build a CallEvent and hand it to ``core.emit`` (thread-safe). The only pjsua2 calls they
make are the ones SIP needs answered *now*: 403 to unwanted INVITEs (so they never ring), 180 to wanted
ones, auto-answer, accepting REFER/Replaces, and wiring a call's audio when its media becomes active.
Never raise out of a callback: pjsua2 would swallow or abort. Edit when a new SIP event must be reported.
"""

from __future__ import annotations

import logging
import random
import traceback
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from usbphone.events import CallEvent
from usbphone.sip.inbound import source_ip
from usbphone.sip.retry import backoff_delay, retryable
from usbphone.sip.uri import caller_id

if TYPE_CHECKING:
    from usbphone.sip.core import CallCore

log = logging.getLogger("usbphone.sip")

_HOLD_STATES = {pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local", pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote"}


def guarded(fn: Any) -> Any:
    """Log and swallow exceptions in a callback (an exception escaping into C++ is never useful)."""

    def wrapper(self: Any, *args: Any) -> None:
        try:
            fn(self, *args)
        except Exception:  # noqa: BLE001 - a callback must never raise
            log.error("error in %s: %s", fn.__name__, traceback.format_exc())

    wrapper.__name__ = fn.__name__
    return wrapper


class SipCall(pj.Call):
    """One call. ``direction`` is "out" or "in"; ``hung_up_locally`` tells who ended it."""

    def __init__(self, core: CallCore, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID,
                 direction: str = "out") -> None:
        super().__init__(acc, call_id)
        self.core = core
        self.direction = direction
        self.hung_up_locally = False
        self.muted = False
        self.muted_sources: list[pj.AudioMedia] = []  # ports disconnected by mute, reconnected by unmute
        self.connected = False
        self.hold = ""  # "", "local", "remote"
        self.audio_media: pj.AudioMedia | None = None
        self.tone_gen: pj.ToneGenerator | None = None
        self.remote_telephone_event = True
        self.replaces: int | None = None
        self.cid = call_id
        self.refused = False  # refused by the inbound policy: the app never hears of it
        self.transferred_from: int | None = None  # call id whose REFER made us place this call
        self.pending_media_op = ""  # "hold"/"resume" until its re-INVITE succeeded
        self.media_op_tries = 0

    def emit(self, kind: str, **kw: Any) -> None:
        if self.refused:
            return
        if self.transferred_from is not None:
            kw["extra"] = {**kw.get("extra", {}), "transferred_from": self.transferred_from}
        self.core.emit(CallEvent(kind, self.cid, **kw))

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        self.cid = ci.id
        state = ci.state
        if state == pj.PJSIP_INV_STATE_EARLY and self.direction == "out":
            code = ci.lastStatusCode
            self.emit("ringing", code=code, reason=ci.lastReason, extra={"early_media": code == 183})
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and not self.connected:
            self.connected = True
            number, name = caller_id(ci.remoteUri)
            extra: dict[str, Any] = {"direction": self.direction}
            if self.replaces is not None:
                extra["replaces"] = self.replaces
            self.emit("connected", remote_number=number, remote_name=name, extra=extra)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._ended(ci)

    def _ended(self, ci: pj.CallInfo) -> None:
        if self.audio_media is not None:
            self.core.media_stopped(self.cid)
            self.audio_media = None
        by = "local" if self.hung_up_locally else "remote"
        code, reason = ci.lastStatusCode, ci.lastReason
        self.emit("ended", code=code, reason=reason, extra={"by": by, "direction": self.direction,
                                                            "connected": self.connected})
        self.core.call_gone(self)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()  # keep the CallInfo alive while iterating (recipes §4 pitfall 1)
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = mi.status
            if status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                # Every time, not only the first: pjsua re-creates the stream on a re-INVITE (hold, resume,
                # codec change) and its new conference port has no connections (measured in
                # tests/test_audio_jack.py::test_audio_comes_back_after_hold_and_resume); connecting is
                # idempotent (pjmedia_conf_connect_port on a connected pair succeeds).
                self.audio_media = self.getAudioMedia(mi.index)
                self.core.media_started(self, self.audio_media)
                if self.muted:
                    self.core.reapply_mute(self)
            hold = _HOLD_STATES.get(status, "")
            if (self.pending_media_op, hold) in (("hold", "local"), ("resume", "")):
                self.pending_media_op = ""
            if hold != self.hold:
                if hold:
                    self.emit("held", extra={"by": hold})
                elif status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    self.emit("resumed", extra={"by": self.hold})
                self.hold = hold
            if status in (pj.PJSUA_CALL_MEDIA_NONE, pj.PJSUA_CALL_MEDIA_ERROR) and self.audio_media is not None:
                self.core.media_stopped(self.cid)
                self.audio_media = None
            break

    def start_media_op(self, op: str) -> None:
        """Hold or resume (a re-INVITE). Owner thread first; the retry thread for glare retries."""
        self.pending_media_op = op
        if op == "hold":
            self.setHold(pj.CallOpParam(True))
        else:
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            self.reinvite(prm)

    @guarded
    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        """A hold/resume re-INVITE refused with 491 (glare) or 500 (the far end still busy with the previous
        transaction, e.g. its ACK not yet in) is retried after RFC 3261 §14.1's random delay."""
        e = prm.e
        if not self.pending_media_op or e.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = e.body.tsxState.tsx
        if tsx.role != pj.PJSIP_ROLE_UAC or tsx.method != "INVITE" or tsx.state != pj.PJSIP_TSX_STATE_COMPLETED:
            return
        code, op = tsx.statusCode, self.pending_media_op
        if code in (491, 500) and self.media_op_tries < 3:
            self.media_op_tries += 1
            delay = random.uniform(2.1, 4.0) if self.direction == "out" else random.uniform(0.0, 2.0)
            log.info("%s of call %s refused (%s); retrying in %.1f s", op, self.cid, code, delay)
            self.core.retrier.schedule(f"media-op-{id(self)}", delay, lambda: self.start_media_op(op))
        elif code >= 300:
            log.warning("%s of call %s failed: %s %s", op, self.cid, code, tsx.statusText)
            self.pending_media_op = ""

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.emit("dtmf", value=prm.digit, extra={"method": method})

    @guarded
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """The remote sent REFER: accept (202) and let pjsua place the new call on a SipCall of ours."""
        number, name = caller_id(prm.dstUri)
        new = SipCall(self.core, self.core.account_for(self), direction="out")
        new.transferred_from = self.cid
        self.core.keep(new)
        prm.newCall = new
        prm.statusCode = 202
        self.emit("transfer", value="requested", remote_number=number, remote_name=name,
                  extra={"target": prm.dstUri})

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        """Progress of a REFER we sent (NOTIFY sipfrag): accepted, then succeeded or failed."""
        code = prm.statusCode
        if not prm.finalNotify and code < 200:
            value = "accepted"
        elif 200 <= code < 300:
            value = "succeeded"
        else:
            value = "failed"
        self.emit("transfer", value=value, code=code, reason=prm.reason)
        if value != "accepted":
            prm.cont = False

    @guarded
    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:
        """An INVITE with Replaces took this call over (attended transfer done by the far ends)."""
        new = SipCall(self.core, self.core.account_for(self), prm.newCallId, direction="in")
        new.replaces = self.cid
        self.core.keep(new)
        prm.newCall = new


class SipAccount(pj.Account):
    """One account: registration events and the inbound-call gate."""

    def __init__(self, core: CallCore, name: str, retry_interval: float = 60, retry_jitter: float = 15) -> None:
        super().__init__()
        self.core = core
        self.name = name
        self.retry_interval, self.retry_jitter = retry_interval, retry_jitter
        self.failures = 0

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        code, reason = prm.code, prm.reason
        extra: dict[str, Any] = {"account": self.name, "expires": prm.expiration}
        if 200 <= code < 300:
            value = "registered" if prm.expiration > 0 else "unregistered"
            self.failures = 0
            self.core.retrier.cancel(self.name)
        else:
            value = "failed"
            if retryable(code) and not self.core.closing:
                self.failures += 1
                delay = backoff_delay(self.failures, self.retry_interval, self.retry_jitter)
                self.core.retrier.schedule(self.name, delay, lambda: self.setRegistration(True))
                extra["retry_in"] = round(delay, 1)
        self.core.emit(CallEvent("registration", value=value, code=code, reason=reason, extra=extra))

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = SipCall(self.core, self, prm.callId, direction="in")
        self.core.keep(call)
        src = source_ip(prm.rdata.srcAddress)
        if not self.core.policy.allows(src):
            log.warning("refused INVITE from %s (not an allowed source)", src)
            call.refused = True
            call.hung_up_locally = True
            op = pj.CallOpParam()
            op.statusCode = 403
            op.reason = "Forbidden"
            call.hangup(op)
            return
        ci = call.getInfo()
        number, name = caller_id(ci.remoteUri)
        waiting = self.core.active_call_count() > 1
        self.core.emit(CallEvent("incoming", prm.callId, remote_number=number, remote_name=name,
                                 extra={"account": self.name, "waiting": waiting, "source": src}))
        op = pj.CallOpParam()
        op.statusCode = 200 if self.core.config.sip.auto_answer else 180
        call.answer(op)


class PjLogWriter(pj.LogWriter):
    """pjsip's own log lines -> Python logging ("usbphone.pjsip") instead of stdout. Any pjlib thread."""

    def __init__(self) -> None:
        super().__init__()
        self.log = logging.getLogger("usbphone.pjsip")

    def write(self, entry: pj.LogEntry) -> None:
        level = logging.ERROR if entry.level <= 1 else logging.WARNING if entry.level == 2 else logging.INFO
        try:
            self.log.log(level, "%s", entry.msg.rstrip())
        except Exception:  # noqa: BLE001 - logging must never break pjsip
            pass

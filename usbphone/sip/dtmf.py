"""Sending DTMF on a call: RFC 4733 events (default), SIP INFO, or in-band tones.

"rfc4733" falls back to in-band tones when the peer offered no telephone-event (pjsua2 refuses RFC 2833
then). In-band tones come from a pjsua2 ToneGenerator connected to the call's audio, so they obey mute
like speech does. Owner thread only (called from CallCore.execute). Edit for new DTMF methods.
"""

from __future__ import annotations

import logging

import pjsua2 as pj

from usbphone.sip.callbacks import SipCall

log = logging.getLogger("usbphone.sip")

DIGIT_MS = 100  # tone length and gap for in-band digits (ITU-T Q.24 asks >= 40 ms)


def send_dtmf(call: SipCall, digits: str, method: str) -> str:
    """Send ``digits``; returns the method actually used."""
    if method == "info":
        _send(call, digits, pj.PJSUA_DTMF_METHOD_SIP_INFO)
        return "info"
    if method == "rfc4733":
        try:
            _send(call, digits, pj.PJSUA_DTMF_METHOD_RFC2833)
            return "rfc4733"
        except pj.Error as exc:
            log.info("peer takes no RFC 4733 events (%s); sending DTMF in-band", exc.reason)
    _send_inband(call, digits)
    return "inband"


def _send(call: SipCall, digits: str, method: int) -> None:
    prm = pj.CallSendDtmfParam()
    prm.digits = digits
    prm.method = method
    prm.duration = 160
    call.sendDtmf(prm)


def _send_inband(call: SipCall, digits: str) -> None:
    if call.audio_media is None:
        raise pj.Error(pj.PJ_EINVALIDOP, "call has no active audio for in-band DTMF", "", "", 0)
    if call.tone_gen is None:
        gen = pj.ToneGenerator()
        gen.createToneGenerator()
        gen.startTransmit(call.audio_media)
        call.tone_gen = gen
    seq = pj.ToneDigitVector()
    for d in digits:
        td = pj.ToneDigit()
        td.digit = d
        td.on_msec = DIGIT_MS
        td.off_msec = DIGIT_MS
        td.volume = 0
        seq.append(td)
    call.tone_gen.playDigits(seq, False)

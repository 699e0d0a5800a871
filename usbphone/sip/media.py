"""A call's audio in the conference bridge: mute, the null-device connection, codec/RTP facts.

Runs on pjlib-known threads only (the owner thread or pjsua's callbacks). Edit for new media behaviour.
"""

from __future__ import annotations

from typing import Any

import pjsua2 as pj

from usbphone.sip.callbacks import SipCall


def apply_mute(call: SipCall) -> None:
    """Make the far end hear silence (or audio again): disconnect every conference port that feeds the
    call's port, and reconnect exactly those on unmute. RTP keeps flowing (noVad), carrying silence.

    (AudioMedia.adjustTxLevel(0) had no effect on the wire with pjsua2 2.15, measured in
    tests/sip/test_sip_features.py, hence the disconnect.) Runs on pjlib-known threads only.
    """
    am = call.audio_media
    if am is None:
        return
    if call.muted:
        target = am.getPortId()
        known = {p.getPortId() for p in call.muted_sources}  # re-applied after a re-created stream: no doubles
        for port in pj.Endpoint.instance().mediaEnumPorts2():
            info = port.getPortInfo()  # keep it alive while reading listeners (recipes §4 pitfall 1)
            if port.getPortId() != target and target in list(info.listeners):
                port.stopTransmit(am)
                if port.getPortId() not in known:
                    call.muted_sources.append(port)
    else:
        sources, call.muted_sources = call.muted_sources, []
        for port in sources:
            try:
                port.startTransmit(am)
            except pj.Error:
                pass  # that source went away while muted (e.g. a tone that ended)


def connect_null_audio(am: pj.AudioMedia) -> None:
    """No audio hook: the null sound device feeds silence into the call and swallows what comes back."""
    mgr = pj.Endpoint.instance().audDevManager()
    mgr.getCaptureDevMedia().startTransmit(am)
    am.startTransmit(mgr.getPlaybackDevMedia())


def media_info(call: SipCall) -> dict[str, Any]:
    """State, codec ("PCMU/8000") and RTP addresses ("127.0.0.1:4000") of a call."""
    ci = call.getInfo()
    out: dict[str, Any] = {"state": ci.stateText, "remote": ci.remoteUri, "codec": "", "muted": call.muted,
                           "hold": call.hold, "rtp_local": "", "rtp_remote": ""}
    for mi in ci.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status != pj.PJSUA_CALL_MEDIA_NONE:
            si = call.getStreamInfo(mi.index)
            out["codec"] = f"{si.codecName}/{si.codecClockRate}"
            out["rtp_remote"] = si.remoteRtpAddress
            out["rtp_local"] = call.getMedTransportInfo(mi.index).localRtpName
            break
    return out

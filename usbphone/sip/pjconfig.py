"""Translate usbphone's Config into pjsua2 config objects (endpoint, transports, accounts, codecs).

Pure construction: nothing here starts anything. Edit when a config key gains a pjsua2 meaning.
"""

from __future__ import annotations

import os

import pjsua2 as pj

from usbphone.audio.settings import AudioSettings
from usbphone.config import AccountConfig, Config, ConfigError
from usbphone.sip.bind import BindAddress

_SRTP = {"off": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
         "mandatory": pj.PJMEDIA_SRTP_MANDATORY}
TRANSPORT_TYPES = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}
# pjsua2's codec ids for our codec names (priority 0 disables a codec); source: Endpoint.codecEnum2()
CODEC_IDS = {"PCMU": ("PCMU/8000/1",), "PCMA": ("PCMA/8000/1",), "G722": ("G722/16000/1",),
             "GSM": ("GSM/8000/1",), "iLBC": ("iLBC/8000/1",),
             "speex": ("speex/8000/1", "speex/16000/1", "speex/32000/1")}


def wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def loopback(host: str) -> bool:
    return host.startswith("127.") or host == "::1"


# The conference bridge's resampler, which converts every call between its codec's rate and the clock, and the
# handset between the clock and its sound card's rate (usbphone/sip/confport.py): quality 3-4 selects
# pjmedia's small filter (source: pjsua.h, pjsua_media_config.quality: 5-10 large filter, 3-4 small, 1-2
# linear). The large filter (pjsua's default, 8) cost ~1 % of a core more per call on a 48 kHz sound card
# (tools/bench_audio.py, 13 vs 65 taps); the small one is a windowed-sinc band-limited resampler too, but
# each pass through it is 1.0 dB quieter (measured: tests/test_audio_jack.py, four passes mic -> RTP echo ->
# earpiece lost 4.1 dB), which the handset's port makes up for (SMALL_FILTER_GAIN, usbphone/sip/audio.py).
RESAMPLE_QUALITY = 4
SMALL_FILTER_GAIN = 10 ** (-1.0 / 20)  # one small-filter pass, measured as above


def endpoint_config(config: Config, log_writer: pj.LogWriter | None = None) -> pj.EpConfig:
    sip = config.sip
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # CallCore's own poll thread polls SIP/RTP I/O (core.py _start_poller)
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.maxCalls = sip.max_calls
    cfg.uaConfig.userAgent = sip.user_agent
    for server in sip.stun_servers:
        cfg.uaConfig.stunServer.append(server)
    cfg.medConfig.noVad = True  # keep sending RTP in silence (recipes §4 pitfall 4)
    cfg.medConfig.clockRate = AudioSettings.from_config(config).bridge_rate  # the conference clock
    cfg.medConfig.quality = RESAMPLE_QUALITY
    # RTP shares the SIP ioqueue and pjsua's one worker thread: no media thread waking 100 times a second
    # while idle (measured with tools/bench: 0.25 % of a core). Frames are still clocked by the conference
    # bridge's own clock; the worker's callbacks only enqueue, so RTP reception is never held up for long.
    cfg.medConfig.hasIoqueue = False
    cfg.medConfig.threadCnt = 0
    cfg.logConfig.level = sip.log_level
    cfg.logConfig.consoleLevel = sip.log_level
    cfg.logConfig.msgLogging = 1 if sip.log_level >= 4 else 0
    if log_writer is not None:
        cfg.logConfig.writer = log_writer
    return cfg


def transport_config(bind: BindAddress, kind: str, config: Config) -> pj.TransportConfig:
    tc = pj.TransportConfig()
    tc.port = bind.port
    if not wildcard(bind.host):
        tc.boundAddress = bind.host
        if not (kind == "udp" and config.sip.stun_servers):
            # a published address tells pjsua the public address is known: with STUN configured the
            # SIP UDP socket must ask the STUN server instead (Via/Contact behind NAT)
            tc.publicAddress = bind.host
    if kind == "tls":
        tls = tc.tlsConfig
        # The wheel's bundled OpenSSL 1.0.2 looks for CAs under /etc/pki/tls: point it at the system bundle.
        # (CaListPath, a hashed directory, is not honoured by the wheel: verification failed with it.)
        # Known limit, measured with pjsua2 2.15.1: with the big system bundle loaded, our TLS *listener*
        # fails handshakes ("End of file"), so direct inbound TLS needs a small tls_ca_file; calls over a
        # registered TLS connection do not use the listener.
        if not os.path.isfile(config.sip.tls_ca_file):
            raise ConfigError(f"TLS: CA file {config.sip.tls_ca_file} does not exist (set [sip] tls_ca_file "
                              "to the CA bundle that signed your server's certificate)")
        tls.CaListFile = config.sip.tls_ca_file
        tls.verifyServer = config.sip.tls_verify
        if config.sip.tls_cert_file:
            tls.certFile = config.sip.tls_cert_file
            tls.privKeyFile = config.sip.tls_key_file
    return tc


def account_config(acc: AccountConfig, config: Config, host: str, port: int,
                   transport_ids: dict[str, int]) -> pj.AccountConfig:
    """pjsua2 AccountConfig for one of ours; ``host``/``port`` are what the SIP transport really bound."""
    a = pj.AccountConfig()
    domain = acc.sip_domain or (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    ident = f"sip:{acc.user}@{domain}"
    if acc.transport != "udp":
        ident += f";transport={acc.transport}"
    a.idUri = f'"{acc.display_name}" <{ident}>' if acc.display_name else ident
    a.sipConfig.transportId = transport_ids[acc.transport]
    if acc.registrar:
        a.regConfig.registrarUri = acc.registrar
        a.regConfig.timeoutSec = acc.register_expires
        a.regConfig.retryIntervalSec = 0  # usbphone/sip/retry.py retries, with backoff and jitter
        a.regConfig.dropCallsOnFail = False
    else:
        a.regConfig.registrarUri = ""
        a.regConfig.registerOnAdd = False
    if acc.password or acc.registrar:
        a.sipConfig.authCreds.append(pj.AuthCredInfo("digest", acc.realm, acc.auth_user or acc.user, 0,
                                                     acc.password))
    if acc.outbound_proxy:
        proxy = acc.outbound_proxy if ";lr" in acc.outbound_proxy else acc.outbound_proxy + ";lr"
        a.sipConfig.proxies.append(proxy)
    nat = a.natConfig
    nat.udpKaIntervalSec = acc.keepalive
    # pjnath gathers no host candidates on loopback (measured: "no candidate is created", every call fails
    # with PJ_EINVAL), so ICE is only switched on for non-loopback binds (CallCore.notice says so).
    nat.iceEnabled = config.sip.ice and not loopback(host)
    if not config.sip.stun_servers:
        nat.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        nat.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    if not acc.registrar:
        nat.contactRewriteUse = 0
        nat.viaRewriteUse = 0
        nat.sdpNatRewriteUse = 0
    med = a.mediaConfig
    med.srtpUse = _SRTP[acc.srtp]
    med.srtpSecureSignaling = 0
    if not wildcard(host):
        med.transportConfig.boundAddress = host  # RTP binds to the same host as SIP
        med.transportConfig.publicAddress = host
    a.presConfig.publishEnabled = config.presence.publish and bool(acc.registrar)
    return a


def apply_codec_priorities(ep: pj.Endpoint, codecs: tuple[str, ...]) -> list[str]:
    """First listed codec gets the highest priority; codecs not listed are disabled. Returns enabled ids."""
    present = {c.codecId for c in ep.codecEnum2()}
    enabled: list[str] = []
    for cid in present:
        ep.codecSetPriority(cid, 0)
    for rank, name in enumerate(codecs):
        for cid in CODEC_IDS[name]:
            if cid in present:
                ep.codecSetPriority(cid, 254 - rank)
                enabled.append(cid)
    return enabled

"""CallCore: the pjsua2 endpoint, its accounts and calls, driven by CallCommands, reporting CallEvents.

Threading model (DESIGN.md "CallCore"): one poll thread of ours ("sip-poll", ``uaConfig.threadCnt = 0``)
polls SIP and media I/O with ``libHandleEvents(POLL_MS)`` and runs the callbacks
(usbphone/sip/callbacks.py), which only build CallEvents and pass them to ``emit`` (the app passes
``queue.put``). The thread that calls ``start()`` creates the endpoint and becomes the *owner*:
``execute()`` and ``shutdown()`` raise CallError on any other thread, so a thread pjlib does not
know (udev monitor, HID reader, GC finaliser) can never call into pjsua2. The app's loop blocks on its queue,
so an idle phone costs ~0 % CPU (measured in tests/sip/test_sip_threads.py), and a command is one
function call away. Ended calls are released (Python half freed, C++ half disowned: see
``_release``) at the next command, the next new call or shutdown.
Edit this module for a new CallCommand; SIP callbacks live in callbacks.py (presence.py for buddies), media
wiring in media.py, config mapping in pjconfig.py, re-registration in retry.py.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import pjsua2 as pj

from usbphone.config import DEFAULT_BIND, DTMF_METHODS, Config
from usbphone.errors import UserError
from usbphone.events import CallCommand, CallEvent
from usbphone.sip import pjconfig
from usbphone.sip.bind import BindAddress, BindError, choose, parse_bind
from usbphone.sip.callbacks import PjLogWriter, SipAccount, SipCall
from usbphone.sip.inbound import InboundPolicy
from usbphone.sip.media import apply_mute, connect_null_audio, media_info
from usbphone.sip.presence import PresenceError, SipBuddy, presence_status
from usbphone.sip.retry import Retrier
from usbphone.sip.uri import DialError, to_uri

log = logging.getLogger("usbphone.sip")

DTMF_DIGITS = frozenset("0123456789*#ABCD")
POLL_MS = 100  # longest sleep of the SIP/RTP poll thread; I/O wakes it at once


class CallError(UserError):
    """A command the call core cannot carry out (unknown call, bad digits, SIP stack refusal)."""


class AudioHook(Protocol):
    """Implemented by usbphone/sip/audio.py (AudioBridge). All methods run on pjlib-known threads."""

    def on_endpoint_started(self) -> None: ...
    def connect(self, call_id: int, aud_med: pj.AudioMedia) -> None: ...
    def disconnect(self, call_id: int) -> None: ...
    def close(self) -> None: ...


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """pjlib prints banner lines to fd 1 in libCreate, before any log config applies: hide them."""
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_LINGERING: list[SipCall] = []  # calls still live at shutdown, kept for the life of the process


def _release(calls: list[SipCall]) -> None:
    """Let go of ended calls without ever running pjsua2's Call destructor.

    That destructor calls pjsua_call_set_user_data(id, NULL) and hangs up "its" call if that slot is
    active, but pjsua reuses call ids, so it would hang up whichever *new* call took the slot (measured:
    tests/sip/test_sip_sipp_calls.py::test_call_id_reused_after_an_ended_call_keeps_working), and after
    libDestroy it aborts the process (recipes §1a). So the C++ half is disowned (a few hundred bytes
    stay allocated per ended call) and only the Python half, with everything it holds, is freed. pjsua
    never calls back into an ended call: its slot's user data belongs to the next call.
    No loop variable may outlive this function (it would keep the object alive).
    """
    while calls:
        call = calls.pop()
        call.tone_gen = None
        call.muted_sources = []
        call.audio_media = None
        call.thisown = False
        del call


def _free_endpoint(ep: pj.Endpoint) -> None:
    """Delete the C++ Endpoint now, whoever still holds its Python proxy.

    pjsua2 allows one Endpoint per process: while the old one exists, ``pj.Endpoint()`` throws out of its
    constructor and the process aborts ("terminate called after throwing an instance of 'pj::Error'"), and an
    old proxy finalised later runs libDestroy again. A proxy can outlive shutdown() unseen, e.g. in the frame
    of a start() that raised (the caller keeping the BindError keeps the frame), measured in
    tests/sip/test_sip_lifecycle.py. SWIG's delete_Endpoint disowns the proxy before deleting, so a leftover
    proxy is inert when it is finally collected.
    """
    if ep.thisown:
        pj.Endpoint.__swig_destroy__(ep)


def _idle_clock_off(ep: pj.Endpoint) -> None:
    """Let pjsua close the null sound device (its 20 ms conference clock thread) while no call has media.

    pjsua closes an idle sound device ``sndAutoCloseTime`` (default 1 s) after a conference disconnect and
    re-opens it on the next connect (a call's media), but its idle check only runs on a disconnect, so one
    connect/disconnect starts it. Measured (tools/bench, 2.15): idle clock thread 0.5-0.8 % of a core -> 0;
    calls still get 20 ms frames (50/s) and the clock stops again 1 s after the last call's media."""
    mgr = ep.audDevManager()
    cap, play = mgr.getCaptureDevMedia(), mgr.getPlaybackDevMedia()
    cap.startTransmit(play)
    cap.stopTransmit(play)


def _host_port(host: str, local_name: str) -> str:
    port = local_name.rsplit(":", 1)[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class CallCore:
    """See the module docstring. ``bind`` overrides [sip] bind ("HOST[:PORT]", port 0 = any free port)."""

    def __init__(self, config: Config, emit: Callable[[CallEvent], None], *, bind: str | None = None,
                 audio: AudioHook | None = None) -> None:
        self.config = config
        self._emit = emit
        self._bind_text = bind
        self.audio = audio
        self.notice = ""  # e.g. the "5060 in use, using a free port" message
        self.policy = InboundPolicy(set(), ())
        self._ep: pj.Endpoint | None = None
        self._owner: int | None = None
        self._lock = threading.Lock()
        self._calls: list[SipCall] = []  # live (not yet DISCONNECTED)
        self._dead: list[SipCall] = []  # ended, waiting to be reaped on the owner thread
        self._accounts: list[SipAccount] = []
        self._buddies: list[SipBuddy] = []
        self._bound = BindAddress("127.0.0.1", 0, False)
        self._transport_ids: dict[str, int] = {}
        self._log_writer: PjLogWriter | None = None
        self.transport_addresses: dict[str, str] = {}  # "udp"/"tcp"/"tls" -> "host:port" bound
        self.retrier = Retrier()
        self.closing = False

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Create and start the endpoint; the calling thread becomes the owner thread."""
        if self._ep is not None:
            raise CallError("call core already started")
        self._owner = threading.get_ident()
        atexit.register(self._at_exit)
        ep = pj.Endpoint()
        with _quiet_stdout():
            ep.libCreate()
        self._ep = ep
        try:
            self._log_writer = PjLogWriter()  # kept alive as long as the library
            ep.libInit(pjconfig.endpoint_config(self.config, self._log_writer))
            self._create_transports(ep)
            ep.libStart()
            self._start_poller(ep)
            ep.audDevManager().setNullDev()
            _idle_clock_off(ep)
            pjconfig.apply_codec_priorities(ep, self.config.sip.codecs)
            trusted = [u for a in self.config.accounts if a.registers for u in (a.registrar, a.outbound_proxy) if u]
            self.policy = InboundPolicy.build(trusted, self.config.sip.inbound_networks)
            if self.audio is not None:
                self.audio.on_endpoint_started()
            self._create_accounts()
        except BaseException:
            self._destroy()
            raise

    def _start_poller(self, ep: pj.Endpoint) -> None:
        """pjsua's own worker wakes every 10 ms (compiled in: 0.3-0.5 % of a core idle, tools/bench); ours
        sleeps until I/O arrives or the next timer is due, at most POLL_MS (SWIG releases the GIL meanwhile).
        A timer another thread schedules while it sleeps fires up to POLL_MS late (e.g. a SIP retransmit)."""
        self._poll_stop = threading.Event()

        def poll() -> None:
            ep.libRegisterThread("sip-poll")
            while not self._poll_stop.is_set():
                ep.libHandleEvents(POLL_MS)

        self._poller = threading.Thread(target=poll, name="sip-poll", daemon=True)
        self._poller.start()

    def _stop_poller(self) -> None:
        poller = getattr(self, "_poller", None)
        if poller is not None:
            self._poll_stop.set()
            poller.join(2.0)
            self._poller = None

    def _create_transports(self, ep: pj.Endpoint) -> None:
        text = self._bind_text or self.config.sip.bind
        bind = parse_bind(text)
        is_default = self._bind_text is None and self.config.sip.bind == DEFAULT_BIND
        bind, self.notice = choose(bind, is_default)
        if self.config.sip.ice and pjconfig.loopback(bind.host):
            self.notice = " ".join(filter(None, [self.notice, "ICE is off: no ICE candidates exist on loopback"]))
        if self.notice:
            log.warning("%s", self.notice)
        kinds = ["udp"] + sorted({a.transport for a in self.config.accounts} - {"udp"})
        for kind in kinds:
            port = bind.port if kind != "tls" else 0
            tc = pjconfig.transport_config(BindAddress(bind.host, port, False), kind, self.config)
            try:
                tid = ep.transportCreate(pjconfig.TRANSPORT_TYPES[kind], tc)
            except pj.Error as exc:
                raise BindError(f"cannot bind SIP {kind.upper()} to {bind}: {exc.reason}") from None
            self._transport_ids[kind] = tid
            # localAddress is the socket we bound; localName may be the STUN-mapped (public) address
            bound_at = ep.transportGetInfo(tid).localAddress
            self.transport_addresses[kind] = _host_port(bind.host, bound_at)
            if kind == "udp":
                port = int(bound_at.rsplit(":", 1)[1])
                bind = BindAddress(bind.host, port, True)
        self._bound = bind

    def _create_accounts(self) -> None:
        accounts = self.config.accounts
        if not accounts:
            from usbphone.config import AccountConfig

            accounts = (AccountConfig(name="local", user="usbphone"),)
        for i, acc_cfg in enumerate(accounts):
            acc = SipAccount(self, acc_cfg.name, acc_cfg.retry_interval, acc_cfg.retry_jitter)
            port = int(self.transport_addresses[acc_cfg.transport].rsplit(":", 1)[1])
            cfg = pjconfig.account_config(acc_cfg, self.config, self._bound.host, port, self._transport_ids)
            acc.create(cfg, i == 0)
            self._accounts.append(acc)
        for uri in self.config.presence.buddies:
            bcfg = pj.BuddyConfig()
            bcfg.uri = uri
            bcfg.subscribe = True
            buddy = SipBuddy(self, uri)
            buddy.create(self._accounts[0], bcfg)
            self._buddies.append(buddy)

    @property
    def local_address(self) -> str:
        """The SIP address actually bound, e.g. "127.0.0.1:40123" (for status lines)."""
        return str(self._bound)

    @property
    def started(self) -> bool:
        return self._ep is not None

    def shutdown(self) -> None:
        """Hang up, unregister, destroy the library. Safe to call twice; owner thread only.

        When it returns, nothing of this core's pjsua2 world is left for a later garbage collection to finalise
        under another core's library (the Endpoint is deleted, cycles are collected): cores may follow one
        another in one process without their callers doing anything more."""
        if self._ep is None:
            return
        self._check_thread()
        try:
            self._ep.hangupAllCalls()
        except pj.Error:
            pass
        deadline = time.monotonic() + 3.0
        while self.active_call_count() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._destroy()

    def _at_exit(self) -> None:
        """Interpreter exit without shutdown() (a crashed app): shut down if this is the owner thread,
        else at least keep pjsua2's Call destructors from running after the library is gone."""
        if self._ep is None:
            return
        if threading.get_ident() == self._owner:
            self.shutdown()
            return
        with self._lock:
            calls = self._calls + self._dead
        for call in calls:
            call.thisown = False
        _LINGERING.extend(calls)

    def _destroy(self) -> None:
        ep, self._ep = self._ep, None
        if ep is None:
            return
        atexit.unregister(self._at_exit)
        self.closing = True
        self.retrier.stop()
        self._buddies.clear()
        for acc in self._accounts:
            try:
                acc.shutdown()
            except pj.Error:
                pass
        with self._lock:
            live, dead = self._calls, self._dead
            self._calls, self._dead = [], []
        _release(dead)
        # A call that did not end in time (e.g. an unanswered INVITE that cannot be CANCELled yet) still gets
        # callbacks while libDestroy tears it down: its Python half must outlive the library, its C++ half is
        # never destroyed (no destructor after libDestroy).
        for call in live:
            call.thisown = False
        _LINGERING.extend(live)
        del live
        self._accounts.clear()
        if self.audio is not None:
            try:
                self.audio.close()
            except Exception as exc:  # noqa: BLE001 - shutdown must finish
                log.error("audio close failed: %s", exc)
        self._stop_poller()
        try:
            ep.libDestroy()
        finally:
            _free_endpoint(ep)
            del ep
            self._log_writer = None  # libDestroy unhooked it
            gc.collect()  # cycles holding pjsua2 objects (ports, accounts) are freed now, while no library runs

    # --- used by callbacks (any pjsua thread) -----------------------------------------------------------

    def emit(self, event: CallEvent) -> None:
        try:
            self._emit(event)
        except Exception as exc:  # noqa: BLE001 - never let the app's sink break a pjsua callback
            log.error("event sink failed for %s: %s", event.kind, exc)

    def keep(self, call: SipCall) -> None:
        """Track a new call; calls that ended before it are released here too (bounded memory when no
        command comes, e.g. auto-answer). Runs on pjlib-known threads only (callbacks or the owner)."""
        with self._lock:
            self._calls.append(call)
            dead, self._dead = self._dead, []
        _release(dead)

    def call_gone(self, call: SipCall) -> None:
        with self._lock:
            if call in self._calls:
                self._calls.remove(call)
                self._dead.append(call)

    def active_call_count(self) -> int:
        with self._lock:
            return len(self._calls)

    def account_for(self, call: SipCall) -> SipAccount:
        acc_id = call.getInfo().accId
        return next((a for a in self._accounts if a.getId() == acc_id), self._accounts[0])

    def media_started(self, call: SipCall, am: pj.AudioMedia) -> None:
        if self.audio is not None:
            self.audio.connect(call.cid, am)
        else:
            connect_null_audio(am)

    def reapply_mute(self, call: SipCall) -> None:
        apply_mute(call)

    def media_stopped(self, call_id: int) -> None:
        if self.audio is not None:
            self.audio.disconnect(call_id)

    # --- commands (owner thread only) ---------------------------------------------------------------

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise CallError("CallCore used from a thread that does not own it (pjsua2 would abort); "
                            "send commands to the owner thread's queue instead")

    def execute(self, command: CallCommand) -> int | None:
        """Carry out one CallCommand; returns the new call id for "dial". Raises CallError on failure."""
        self._check_thread()
        if self._ep is None:
            raise CallError("call core is not started")
        self._reap()
        handler = getattr(self, "_cmd_" + command.kind)
        try:
            return handler(command)
        except pj.Error as exc:
            message = f"{command.kind} failed: {exc.reason} ({exc.status})"
        except (DialError, PresenceError) as exc:
            message = str(exc)
        # Raised outside the except block on purpose: a chained exception would keep the handler's frames,
        # and with them SipCall objects, alive past libDestroy (their destructor then aborts the process).
        raise CallError(message)

    def _reap(self) -> None:
        with self._lock:
            dead, self._dead = self._dead, []
        _release(dead)

    def _call(self, call_id: int | None) -> SipCall:
        with self._lock:
            for call in self._calls:
                if call.getId() == call_id and call_id is not None and call_id >= 0:
                    return call
        raise CallError(f"no call with id {call_id}")

    def _account(self, name: str) -> tuple[SipAccount, Any]:
        confs = self.config.accounts
        if name:
            for acc, cfg in zip(self._accounts, confs, strict=False):
                if cfg.name == name:
                    return acc, cfg
            raise CallError(f"no account named {name!r}")
        return self._accounts[0], (confs[0] if confs else None)

    def call_info(self, call_id: int) -> dict[str, Any]:
        """Codec and RTP addresses of a call, for status lines and logs (owner thread)."""
        self._check_thread()
        return media_info(self._call(call_id))

    def dial_uri(self, target: str, account: str = "") -> str:
        _, cfg = self._account(account)
        domain = (cfg.sip_domain if cfg else "") or self.config.dialplan.domain
        return to_uri(target, domain, cfg.transport if cfg else "udp")

    def _cmd_dial(self, cmd: CallCommand) -> int:
        acc, _ = self._account(cmd.value)
        uri = self.dial_uri(cmd.target, cmd.value)
        call = SipCall(self, acc, direction="out")
        self.keep(call)
        try:
            call.makeCall(uri, pj.CallOpParam(True))
            call.cid = call.getId()
            return call.cid
        except pj.Error as exc:
            message = f"dial {uri} failed: {exc.reason} ({exc.status})"
        self.call_gone(call)  # reaped on this thread later; no exception frame may keep it alive
        del call
        raise CallError(message)

    def _cmd_answer(self, cmd: CallCommand) -> None:
        op = pj.CallOpParam()
        op.statusCode = 200
        self._call(cmd.call_id).answer(op)

    def _cmd_reject(self, cmd: CallCommand) -> None:
        code = cmd.code or 486
        if not 400 <= code <= 699:
            raise CallError(f"reject code {code} is not a SIP failure code (400-699)")
        call = self._call(cmd.call_id)
        op = pj.CallOpParam()
        op.statusCode = code
        call.hung_up_locally = True
        call.hangup(op)

    def _cmd_hangup(self, cmd: CallCommand) -> None:
        call = self._call(cmd.call_id)
        call.hung_up_locally = True
        call.hangup(pj.CallOpParam())

    def _cmd_hold(self, cmd: CallCommand) -> None:
        call = self._call(cmd.call_id)
        call.media_op_tries = 0
        call.start_media_op("hold")

    def _cmd_resume(self, cmd: CallCommand) -> None:
        call = self._call(cmd.call_id)
        call.media_op_tries = 0
        call.start_media_op("resume")

    def _cmd_mute(self, cmd: CallCommand) -> None:
        call = self._call(cmd.call_id)
        call.muted = True
        apply_mute(call)

    def _cmd_unmute(self, cmd: CallCommand) -> None:
        call = self._call(cmd.call_id)
        call.muted = False
        apply_mute(call)

    def _cmd_dtmf(self, cmd: CallCommand) -> None:
        from usbphone.sip.dtmf import send_dtmf

        digits = cmd.digits
        bad = [d for d in digits if d not in DTMF_DIGITS]
        if not digits or bad:
            raise CallError(f"cannot send DTMF {digits!r}: digits are 0-9 * # A-D")
        method = cmd.value or self.config.sip.dtmf  # value may override the method for one command
        if method not in DTMF_METHODS:
            raise CallError(f"unknown DTMF method {method!r} (known: {', '.join(DTMF_METHODS)})")
        send_dtmf(self._call(cmd.call_id), digits, method)

    def _cmd_transfer_blind(self, cmd: CallCommand) -> None:
        call = self._call(cmd.call_id)
        call.xfer(self.dial_uri(cmd.target), pj.CallOpParam(True))

    def _cmd_transfer_attended(self, cmd: CallCommand) -> None:
        call, other = self._call(cmd.call_id), self._call(cmd.other_call_id)
        call.xferReplaces(other, pj.CallOpParam(True))

    def _cmd_presence(self, cmd: CallCommand) -> None:
        status = presence_status(cmd.value)
        for acc in self._accounts:
            acc.setOnlineStatus(status)

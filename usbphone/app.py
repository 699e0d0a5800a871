"""The appliance: wires a handset, the Phone, the call core, the echo test and the event log in one loop.

One queue. Everything that happens elsewhere only enqueues: device reader threads (HandsetEvents), pjsua's
thread (CallEvents), the udev monitor (HotplugNotices), the terminal handset, the signal watcher (Quit).
The main thread owns the Phone and the CallCore (pjsua2 calls happen only here) and blocks on
``queue.get(timeout=until the Phone's next deadline)``, so an idle phone wakes for nothing.

Handsets: ``--replay TRACE`` (repeatable: each trace is a handset, with its timing; the app quits a few
seconds after the last ends), else every handset udev reports (each its own ``Station``: handset + Phone +
line, bound by the config's ``[device]`` table, usbphone/handsets.py), else the terminal as a virtual
handset, else (no TTY) a notice and a wait for a device (callers then get 480 at once instead of ringing
nothing). An incoming call rings every station of its line; the first to answer takes it and the others
stop ringing (they see it end). Outgoing calls go out on the station's line. Each call belongs to the
station that placed or answered it. The audio bridge follows the station in use (off hook or in a call),
else the last attached one: ``use_handset(its sysfs node)`` so its own sound card is used.
Unplugged in a call: ``[phone] unplugged_call = "hangup"`` (default: BYE at once) or ``"keep"`` (the call
goes on, on the default audio device, until it ends or the handset comes back). An ``audio_fault`` of kind
``device_lost`` with the [audio] ``device_lost = "hangup"`` policy hangs up every call; ``"keep"`` goes on
on the default device. With ``[presence] publish = true`` the app publishes dnd / busy (in a call) /
available as the stations change.
The echo test UA (usbphone/echo.py) starts when its number is dialled and stops after its last call.
Signals: SIGINT/SIGTERM are blocked in every thread and taken by one sigwait thread (a Quit item), so
Ctrl-C never interrupts pjsua2 mid-call; shutdown hangs up, unregisters, stops the echo UA, exits 0.
Edit this module when the wiring changes; behaviour belongs in usbphone/phone/, SIP in usbphone/sip/,
opening devices in usbphone/handsets.py, per-device volumes in usbphone/volumes.py.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TextIO

from usbphone import __version__
from usbphone.config import Config
from usbphone.drivers.base import Capabilities
from usbphone.errors import UserError
from usbphone.eventlog import EventLog
from usbphone.events import CallCommand, CallEvent, HandsetCommand, HandsetEvent
from usbphone.phone import Action, Phone
from usbphone.phone.settings import settings_from_config

log = logging.getLogger("usbphone.app")

NO_HANDSET_CODE = 480  # Temporarily Unavailable: nothing to ring (no handset, no terminal)
REPLAY_GRACE_S = 3.0  # after a replayed trace ends: let the last hang-up finish, then exit
UNPLUGGED_CALL = ("hangup", "keep")


@dataclass(frozen=True)
class Quit:
    reason: str


@dataclass(frozen=True)
class AudioNotice:
    """From the audio bridge's control thread: stream opened/closed, or a fault (said once)."""

    what: str
    data: dict[str, Any]


@dataclass(frozen=True)
class FromHandset:
    """A HandsetEvent and the station (handset) it came from."""

    sid: str
    event: HandsetEvent


class Handset(Protocol):
    """What the app needs from a handset (a DeviceRunner-driven device or the virtual one)."""

    name: str

    def send(self, cmd: HandsetCommand) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Station:
    """One handset with its own Phone, on one line (account name). ``handset`` is None while a kept call
    outlives its unplugged handset."""

    sid: str
    handset: Any
    phone: Phone
    line: str
    syspath: str | None = None
    attached_at: float = 0.0
    keep: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return bool(self.phone.calls) or self.phone.pending is not None


class App:
    """``App(config, ...).run()`` is `usbphone run`."""

    def __init__(self, config: Config, *, bind: str | None = None, replay: str | list[str] | None = None,
                 log_json: str | None = None, out: TextIO | None = None, stdin: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from usbphone.handsets import Bindings

        self.config = config
        self.bind = bind
        self.replay_paths = [replay] if isinstance(replay, str) else list(replay or [])
        self.out = out or sys.stdout
        self.stdin = stdin or sys.stdin
        self.clock = clock
        self.q: queue.Queue[Any] = queue.Queue()
        self.log = EventLog(log_json)
        where = config.path or "config"
        try:
            self.settings, appkeys = settings_from_config(config.dialplan, config.extra.get("phone", {}), where)
        except ValueError as exc:
            raise UserError(str(exc), exit_code=2) from None
        self.country = str(appkeys["country"])
        echo = appkeys["echo_number"]
        self.echo_number = ("600" if not config.registrar_mode else "") if echo is None else str(echo)
        self.unplugged_call = str(appkeys["unplugged_call"])
        if self.unplugged_call not in UNPLUGGED_CALL:
            raise UserError(f"{where}: [phone] unplugged_call: {self.unplugged_call!r} is not one of "
                            f"{', '.join(UNPLUGGED_CALL)}", exit_code=2)
        accounts = [a.name for a in config.accounts]
        self.default_line = accounts[0] if accounts else "local"  # CallCore's implicit account is "local"
        self.bindings = Bindings(config.extra.get("device", {}), accounts, where)
        self.core: Any = None
        self.audio: Any = None
        self.audio_sid: str | None = None  # the station whose sound card the bridge uses
        self.echo: Any = None
        self.echo_calls: set[int] = set()
        self.hotplug: Any = None
        self.stations: dict[str, Station] = {}
        self.owner: dict[int, str] = {}  # call id -> the station that placed or answered it
        self.offered: dict[int, list[str]] = {}  # incoming call id -> stations it rings (until one answers)
        self.memory: dict[str, tuple[str, bool]] = {}  # line -> (last number, DND): the user's, across replugs
        self.virtual: Any = None
        self.volumes: Any = None  # VolumeStore, opened when a real device is first used
        self.replay_transports: list[Any] = []
        self.presence = ""  # last published presence value
        self._audio_path: str | None = None
        self._stop = False

    # -- the whole life ----------------------------------------------------------------------------
    def run(self) -> int:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        threading.Thread(target=self._watch_signals, name="signals", daemon=True).start()
        try:
            self._start()
            self._loop()
        finally:
            self._shutdown()
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return 0

    def _watch_signals(self) -> None:
        sig = signal.sigwait({signal.SIGINT, signal.SIGTERM})
        self.q.put(Quit(signal.Signals(sig).name))

    def _start(self) -> None:
        from usbphone.sip.core import CallCore

        self.log.status("start", version=__version__)
        notes = [self._open_replay(i, path) for i, path in enumerate(self.replay_paths)]  # bad trace: fail early
        self.core = CallCore(self.config, self.q.put, bind=self.bind, audio=self._audio())
        self.core.start()
        if not self.replay_paths:
            notes = [self._find_handset()]
        self._print_status("; ".join(n for n in notes if n))
        self._publish_presence(force=True)
        if self.replay_paths:
            for st in self.stations.values():
                st.handset.runner.start()
            threading.Thread(target=self._replay_watch, name="replay-end", daemon=True).start()

    def _audio(self) -> Any:
        """The audio bridge: calls and the Phone's tones on the handset's sound card (or the default one).

        ``[audio] device = "none"`` runs without sound (tones are then only logged)."""
        if self.config.audio.device == "none":
            return None
        if os.environ.get("UMOCKDEV_DIR"):
            # Inside a umockdev testbed PortAudio's device probing overflows libumockdev-preload's fd table
            # ("fd_map_add(): overflow") and the process aborts; emulated devices have no sound card anyway.
            self.log.status("audio_off", reason="umockdev testbed")
            return None
        from usbphone.sip.audio import AudioBridge

        extra = dict(self.config.audio.extra)
        extra.setdefault("country", self.country)
        config = replace(self.config, audio=replace(self.config.audio, extra=extra))
        try:
            self.audio = AudioBridge(None, None, config,
                                     notify=lambda what, data: self.q.put(AudioNotice(what, data)))
        except ValueError as exc:
            raise UserError(f"{self.config.path or 'config'}: {exc}", exit_code=2) from None
        return self.audio

    # -- handsets ------------------------------------------------------------------------------------
    def _emit_for(self, sid: str) -> Callable[[HandsetEvent], None]:
        return lambda ev: self.q.put(FromHandset(sid, ev))

    def _open_replay(self, index: int, path: str) -> str:
        from usbphone.handsets import open_replay

        sid = "replay" if len(self.replay_paths) == 1 else f"replay{index + 1}"
        handset, transport, note = open_replay(path, self._emit_for(sid), self.log.device_write)
        handset.key = sid
        self.replay_transports.append(transport)
        self._add_station(sid, handset, handset.caps, self.bindings.line_for(**handset.match))
        return note

    def _replay_watch(self) -> None:
        for transport in self.replay_transports:
            transport.drained.wait(transport.duration + 60.0)
        time.sleep(REPLAY_GRACE_S)
        self.q.put(Quit("replay finished"))

    def _find_handset(self) -> str:
        note = self._start_hotplug()
        while True:  # the monitor announced attached devices synchronously in start()
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                break
            self._dispatch(item)
        if self.stations:
            return note
        return self._start_virtual() + (f"; {note}" if note else "")

    def _start_hotplug(self) -> str:
        try:
            from usbphone.hid.hotplug import HotplugMonitor
            from usbphone.profiles.loader import load_profiles

            self.hotplug = HotplugMonitor(load_profiles(), self.q.put)
            self.hotplug.start()
        except Exception as exc:  # noqa: BLE001 - no udev (containers): the phone still runs
            self.hotplug = None
            return f"no hotplug ({exc})"
        return ""

    def _start_virtual(self) -> str:
        if not self.stdin.isatty():
            return ("no USB handset attached and stdin is not a terminal, so no virtual handset: waiting for a "
                    "handset to be plugged in (Ctrl-C or SIGTERM to stop)")
        from usbphone.virtual_handset import VirtualHandset

        virtual = VirtualHandset(self._emit_for("virtual"), lambda: self.q.put(Quit("q pressed")),
                                 stdin=self.stdin, out=self.out)
        self.virtual = virtual
        self._add_station("virtual", virtual, virtual.capabilities(), "")
        return "virtual handset in this terminal (no USB handset attached)"

    def _add_station(self, sid: str, handset: Any, caps: Capabilities, line: str) -> Station:
        kept = self.stations.get(sid)
        if kept is not None and kept.handset is None:  # a kept call's handset is back: it takes the call again
            st = kept
            st.handset, st.syspath, st.phone.caps = handset, getattr(handset, "syspath", None), caps
        else:
            st = Station(sid, handset, Phone(self.settings, caps), line or self.default_line,
                         getattr(handset, "syspath", None), self.clock())
            st.phone.last_number, st.phone.dnd = self.memory.get(st.line, ("", False))
            self.stations[sid] = st
        st.attached_at = self.clock()
        saved = self._volume_store().get(sid) if self._remembers(sid) else None
        if saved is not None:
            st.phone.volume, st.phone.ring_volume = saved
        actions = st.phone.handle_handset(HandsetEvent("device", "attached"), self.clock())
        if kept is st:  # back from a kept call: show the call's LEDs again
            actions += [HandsetCommand("led", v, target=n) for n, v in st.phone.leds.items() if v != "off"]
        self._perform(st, actions)
        self._follow_audio()
        return st

    def _remove_station(self, st: Station) -> None:
        self.stations.pop(st.sid, None)
        self.memory[st.line] = (st.phone.last_number, st.phone.dnd)
        for cid in [c for c, sid in self.owner.items() if sid == st.sid]:
            self.owner.pop(cid, None)
        self._follow_audio()

    def _hotplug(self, notice: Any) -> None:
        key = notice.identity.key
        st = self.stations.get(key)
        if notice.action == "detached" and st is not None and st.handset is not None:
            self._unplugged(st, notice.found.info.name)
        elif notice.action == "attached" and (st is None or st.handset is None):
            self._open_device(notice)

    def _unplugged(self, st: Station, name: str) -> None:
        handset, st.handset = st.handset, None
        try:
            handset.stop()
        except Exception as exc:  # noqa: BLE001 - the device is gone; closing may fail
            log.debug("closing %s: %s", name, exc)
        if self.unplugged_call == "keep" and self._in_call(st):
            self.say(f"handset unplugged: {name}; its call goes on on the default audio device")
            self.log.status("call_kept", handset=st.sid, calls=sorted(st.phone.calls))
            self._follow_audio()
        else:
            self._perform(st, st.phone.handle_handset(HandsetEvent("device", "detached"), self.clock()))
            self._remove_station(st)
            self.say(f"handset unplugged: {name}")
        if not any(s.handset is not None for s in self.stations.values()) and self.stdin.isatty() \
                and self.virtual is None:
            self.say(self._start_virtual())
            self.virtual.start()

    @staticmethod
    def _in_call(st: Station) -> bool:
        return any(c.status != "ringing" for c in st.phone.calls.values())

    def _open_device(self, notice: Any) -> None:
        from usbphone.handsets import open_live

        key = notice.identity.key
        try:
            handset = open_live(notice.found, key, self._emit_for(key), self.log.device_write)
        except UserError as exc:
            self.say(f"cannot use {notice.found.info.name}: {exc}")
            return
        if self.virtual is not None:
            virtual, self.virtual = self.virtual, None
            virtual.stop()
            st = self.stations.get("virtual")
            if st is not None and not st.busy:
                self._remove_station(st)
        ident = notice.identity
        line = self.bindings.line_for(vid=ident.vid, pid=ident.pid, serial=ident.serial, port=ident.port,
                                      profile=notice.found.profile.id if notice.found.profile else "")
        st = self._add_station(key, handset, handset.caps, line)
        many = len(self.stations) > 1 or bool(self.config.extra.get("device"))
        self.say(f"handset: {handset.name}" + (f" on line {st.line}" if many else ""))
        self.log.status("handset_attached", handset=key, name=handset.name, line=st.line)

    def _follow_audio(self) -> None:
        """Point the audio bridge at the station in use (off hook or in a call), else the last attached."""
        live = [s for s in self.stations.values() if s.handset is not None]
        using = [s for s in live if s.phone.offhook or s.busy]
        pick = using[0] if using else (max(live, key=lambda s: s.attached_at) if live else None)
        sid = pick.sid if pick is not None else None
        path = pick.syspath if pick is not None else None
        if sid == self.audio_sid and path == self._audio_path:
            return
        moved = sid != self.audio_sid and self.audio_sid is not None
        self.audio_sid, self._audio_path = sid, path
        if self.audio is not None:
            self.audio.use_handset(path)  # its own USB sound card, or the default device
            if moved:  # the tone is the new station's (the old one's "tone off" is not sent to the bridge)
                self.audio.play_tone(pick.phone.tone if pick is not None else "off")
        self.log.status("audio_handset", handset=sid, syspath=path)

    # -- echo test -----------------------------------------------------------------------------------
    # The echo UA (a child process with its own pjsua2 endpoint) starts when its number is dialled (~50 ms)
    # and stops when its last call ends, so an idle phone carries no second SIP stack.
    def _echo_route(self, cmd: CallCommand) -> CallCommand:
        if not self.echo_number or cmd.target != self.echo_number:
            return cmd
        if self.echo is None:
            from usbphone.echo import EchoService

            echo = EchoService(user=self.echo_number)
            try:
                echo.start()
            except UserError as exc:
                self.say(f"warning: {exc}; dialling {self.echo_number} goes to the SIP network")
                return cmd
            self.echo = echo
            self.log.status("echo_started", uri=echo.uri)
        return replace(cmd, target=self.echo.uri, value="")

    def _echo_call_ended(self, call_id: int | None) -> None:
        if call_id in self.echo_calls:
            self.echo_calls.discard(call_id)
            if not self.echo_calls and self.echo is not None:
                echo, self.echo = self.echo, None
                threading.Thread(target=echo.stop, name="echo-stop", daemon=True).start()
                self.log.status("echo_stopped")

    # -- the loop --------------------------------------------------------------------------------------
    def _next_deadline(self) -> float | None:
        times = [t for s in self.stations.values() if (t := s.phone.next_deadline()) is not None]
        return min(times) if times else None

    def _tick(self) -> None:
        now = self.clock()
        for st in list(self.stations.values()):
            deadline = st.phone.next_deadline()
            if deadline is not None and deadline <= now:
                self._perform(st, st.phone.tick(now))

    def _loop(self) -> None:
        if self.virtual is not None:
            self.virtual.start()
        while not self._stop:
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                item = self.q.get(timeout=timeout)
            except queue.Empty:
                item = None
            try:
                if item is None:
                    self._tick()
                else:
                    self._dispatch(item)
            except Exception as exc:  # a bug in one event's handling must not take the phone down
                log.debug("internal error handling %r", item, exc_info=True)  # traceback with -v -v
                self.log.status("internal_error", item=repr(item), error=f"{type(exc).__name__}: {exc}")
                self.say(f"internal error ({type(exc).__name__}: {exc}); still running")

    def _dispatch(self, item: Any) -> None:
        now = self.clock()
        if isinstance(item, FromHandset | HandsetEvent):
            sid, ev = (item.sid, item.event) if isinstance(item, FromHandset) else (next(iter(self.stations), ""),
                                                                                    item)
            st = self.stations.get(sid)
            self.log.write(ev, **self._tag(sid))
            if ev.kind == "device" and ev.value in ("detached", "error") and ev.message:
                self.say(f"handset: {ev.value}: {ev.message}")
            if (st is not None and st.handset is not None and ev.kind == "device" and ev.value in ("detached", "error")
                    and self.unplugged_call == "keep" and self._in_call(st)):
                self._unplugged(st, st.handset.name)  # the reader saw it go before udev did: same policy
            elif st is not None and st.handset is not None:
                self._perform(st, st.phone.handle_handset(ev, now))
        elif isinstance(item, CallEvent):
            self.log.write(item)
            self._note_call_event(item)
            if item.kind == "ended":
                self._echo_call_ended(item.call_id)
            self._route_call_event(item, now)
        elif isinstance(item, AudioNotice):
            self.log.status(item.what, audio=item.data)  # faults are also logged (once) by the bridge
            if item.what == "audio_fault" and item.data.get("kind") == "device_lost":
                self._audio_lost(item.data)
        elif isinstance(item, Quit):
            self._stop = True
            self.log.status("quit", reason=item.reason)
        else:
            self._hotplug(item)
        self._tick()
        self._settle()

    def _settle(self) -> None:
        """After each item: drop stations whose kept call ended, follow the audio, publish presence."""
        for st in list(self.stations.values()):
            if st.handset is None and not st.busy:
                self._perform(st, st.phone.handle_handset(HandsetEvent("device", "detached"), self.clock()))
                self._remove_station(st)
                self.log.status("kept_call_over", handset=st.sid)
        self._follow_audio()
        self._publish_presence()

    def _tag(self, sid: str | None) -> dict[str, str]:
        return {"handset": sid} if sid and len(self.stations) > 1 else {}

    # -- calls among stations ----------------------------------------------------------------------
    def _route_call_event(self, ev: CallEvent, now: float) -> None:
        cid = ev.call_id
        if ev.kind == "incoming":
            self._offer(ev, now)
            return
        if cid is None:  # registration, presence: every station
            for st in list(self.stations.values()):
                self._perform(st, st.phone.handle_call(ev, now))
            return
        if cid in self.owner:
            targets = [self.owner[cid]]
        elif cid in self.offered:
            targets = list(self.offered[cid])
        else:
            via = ev.extra.get("replaces", ev.extra.get("transferred_from"))
            targets = [self.owner[via]] if via in self.owner else list(self.stations)
        for sid in targets:
            st = self.stations.get(sid)
            if st is not None:
                self._perform(st, st.phone.handle_call(ev, now))
                if cid not in self.owner and cid in st.phone.calls and cid not in self.offered:
                    self.owner[cid] = sid  # a call the far end made for this station (transfer, replaces)
        if ev.kind == "ended":
            self.owner.pop(cid, None)
            self.offered.pop(cid, None)

    def _offer(self, ev: CallEvent, now: float) -> None:
        """Ring every station of the call's line; rejects only when none of them takes it."""
        line = str(ev.extra.get("account") or self.default_line)
        stations = [s for s in self.stations.values() if s.handset is not None
                    and (s.line == line or (line == "local" and s.line == self.default_line))]
        if not stations:
            self.say("  rejected (480): no handset on this line to ring" if self.stations else
                     "  rejected (480): no handset attached to ring")
            self._call(None, CallCommand("reject", ev.call_id, code=NO_HANDSET_CODE))
            return
        taken: list[str] = []
        refusals: list[CallCommand] = []
        for st in stations:
            actions = st.phone.handle_call(ev, now)
            if ev.call_id in st.phone.calls:
                taken.append(st.sid)
            else:  # DND or busy: this station refuses
                refusals += [a for a in actions if isinstance(a, CallCommand) and a.kind == "reject"]
                actions = [a for a in actions if not (isinstance(a, CallCommand) and a.kind == "reject")]
            self._perform(st, actions)
        if taken:
            self.offered[ev.call_id] = taken  # type: ignore[index]
        elif refusals:
            self._call(None, refusals[0])

    def _arbitrate(self, st: Station, cmd: CallCommand) -> bool:
        """Among the stations an incoming call rings: the first answer takes it (the others see it end);
        a reject or hang-up only stops that station ringing, until it is the last one. True = send it."""
        cid = cmd.call_id
        ringing = self.offered.get(cid)  # type: ignore[arg-type]
        if ringing is None or st.sid not in ringing:
            return True
        if cmd.kind == "answer":
            del self.offered[cid]  # type: ignore[arg-type]
            self.owner[cid] = st.sid  # type: ignore[index]
            gone = CallEvent("ended", cid, code=200, reason="answered on another handset",
                             extra={"by": "local", "elsewhere": st.sid})
            for sid in ringing:
                other = self.stations.get(sid)
                if sid != st.sid and other is not None:
                    self._perform(other, other.phone.handle_call(gone, self.clock()))
            return True
        if cmd.kind in ("reject", "hangup"):
            ringing.remove(st.sid)
            if ringing:
                return False
            del self.offered[cid]  # type: ignore[arg-type]
        return True

    def _audio_lost(self, data: dict[str, Any]) -> None:
        if data.get("policy") == "hangup":
            calls = sorted({cid for s in self.stations.values() for cid in s.phone.calls if cid is not None})
            self.say(f"audio device lost: hanging up ({data.get('message', '')})")
            for cid in calls:
                self._call(None, CallCommand("hangup", cid))
        else:
            self.say(f"audio device lost: calls go on, on the default audio device ({data.get('message', '')})")
            if self.audio is not None:
                self.audio.use_handset(None)
                self._audio_path = None

    # -- actions ----------------------------------------------------------------------------------------
    def _perform(self, st: Station, actions: list[Action]) -> None:
        if actions:
            self._follow_audio()  # the Phone's state already changed: a lifted handset takes the audio
        for action in actions:
            if isinstance(action, HandsetCommand):
                self.log.write(action, **self._tag(st.sid))
                if st.handset is not None:
                    st.handset.send(action)
                if self.audio is not None and self._audio_for(st):
                    self._audio_command(st, action)
                if action.kind in ("volume", "ring_volume") and self._remembers(st.sid):
                    self._volume_store().put(st.sid, st.phone.volume, st.phone.ring_volume)
            elif self._arbitrate(st, action):
                self._call(st, action)

    def _audio_for(self, st: Station) -> bool:
        """Tones and volumes go to the bridge only from the station it serves (always, with one handset)."""
        return self.audio_sid is None or self.audio_sid == st.sid

    @staticmethod
    def _remembers(sid: str) -> bool:
        """Volumes are kept for real devices (hotplug identity), not for replays or the terminal."""
        return bool(sid) and not sid.startswith("replay") and sid != "virtual"

    def _volume_store(self) -> Any:
        if self.volumes is None:
            from usbphone.volumes import VolumeStore

            self.volumes = VolumeStore()
        return self.volumes

    def _audio_command(self, st: Station, cmd: HandsetCommand) -> None:
        """Tones and volumes go to the earpiece; a handset with no ringer rings through its speaker."""
        if cmd.kind == "tone":
            self.audio.play_tone(cmd.value)
        elif cmd.kind == "volume":
            self.audio.set_volume(int(cmd.value))
        elif cmd.kind == "ring_volume":
            self.audio.set_ring_volume(int(cmd.value))
        elif cmd.kind == "speaker":
            self.audio.set_hands_free(cmd.value == "on")
        elif cmd.kind == "ring" and not st.phone.caps.ringer:
            self.audio.play_tone("ring" if cmd.value == "on" else "off")

    def _call(self, st: Station | None, cmd: CallCommand) -> None:
        echo = cmd.kind == "dial" and bool(self.echo_number) and cmd.target == self.echo_number
        if cmd.kind == "dial" and st is not None and self.config.accounts and st.line != self.default_line:
            cmd = replace(cmd, value=st.line)  # out on the station's line (CallCore: value = account name)
        tag = self._tag(st.sid if st is not None else None)
        if echo:
            routed = self._echo_route(cmd)
            self.log.write(cmd, routed_to=routed.target, **tag)
            cmd = routed
        else:
            self.log.write(cmd, **tag)
        try:
            result = self.core.execute(cmd)
            error = ""
        except UserError as exc:
            result, error = None, str(exc)
            self.log.status("call_command_failed", command=cmd.kind, error=error)
            if cmd.kind in ("dial", "transfer_blind", "transfer_attended"):
                self.say(f"{cmd.kind}: {error}")
        if cmd.kind == "dial" and st is not None:
            if result is not None:
                self.owner[result] = st.sid
                if echo:
                    self.echo_calls.add(result)
            self._perform(st, st.phone.dial_result(result, self.clock(), error))

    def _publish_presence(self, force: bool = False) -> None:
        """dnd / busy (in a call) / available, from the stations, when [presence] publish is on."""
        if not self.config.presence.publish or self.core is None:
            return
        phones = [s.phone for s in self.stations.values()]
        if any(p.pending is not None or any(c.status != "ringing" for c in p.calls.values()) for p in phones):
            value = "busy"
        elif phones and all(p.dnd for p in phones):
            value = "dnd"
        else:
            value = "available"
        if value != self.presence or force:
            self.presence = value
            self._call(None, CallCommand("presence", value=value))

    def _note_call_event(self, ev: CallEvent) -> None:
        if ev.kind == "registration":
            self.say(f"account: {ev.value}" + (f" ({ev.code} {ev.reason})" if ev.code else ""))
        elif ev.kind == "incoming":
            self.say(f"incoming call from {ev.remote_name or ev.remote_number or 'unknown'}")

    # -- output ----------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if self.virtual is not None and self.virtual._thread is not None:
            self.virtual.message(text)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def _print_status(self, handset_note: str) -> None:
        cfg = self.config
        lines = [f"usbphone {__version__} - ready"]
        lines.append(f"  config:   {cfg.path or 'none (built-in defaults)'}")
        if cfg.registrar_mode:
            for acc in cfg.accounts:
                what = f"registering with {acc.registrar}" if acc.registers else "no registrar"
                lines.append(f"  account:  {acc.name}: {acc.user}@{acc.sip_domain or '-'} ({what})")
        else:
            lines.append("  account:  no registrar: direct SIP calls (dial user@host or sip: URIs)")
        lines.append(f"  SIP:      listening on {self.core.local_address} (udp)")
        if self.core.notice:
            lines.append(f"            {self.core.notice}")
        many = len(self.stations) > 1 or bool(cfg.extra.get("device"))
        names = [s.handset.name + (f" (line {s.line})" if many else "") for s in self.stations.values()
                 if s.handset is not None]
        lines.append(f"  handset:  {handset_note or '; '.join(names)}")
        if handset_note and len(names) > 1:
            lines += [f"            {n}" for n in names]
        if self.echo_number:
            lines.append(f"  echo:     dial {self.echo_number} for the echo test (a SIP UA on loopback that echoes "
                         "audio and digits)")
        lines.append("  dial:     lift the handset, dial, # sends (or wait "
                     f"{self.settings.inter_digit_timeout:g} s); hang up to end. Ctrl-C quits.")
        self.say("\n".join(lines))
        self.log.status("ready", sip=self.core.local_address, handset=handset_note, echo=self.echo_number,
                        handsets={s.sid: s.line for s in self.stations.values()})

    def _log_leftovers(self) -> None:
        """Log what arrived after the loop stopped (the BYE answers to our last hang-ups)."""
        while True:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, FromHandset):
                self.log.write(item.event, **self._tag(item.sid))
            elif isinstance(item, HandsetEvent | CallEvent):
                self.log.write(item)

    # -- the end ----------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        now = self.clock()
        if self.core is not None and self.core.started:
            for st in list(self.stations.values()):
                self._perform(st, st.phone.handle_handset(HandsetEvent("device", "detached"), now))
        parts = [self.virtual] + [s.handset for s in self.stations.values() if s.handset is not self.virtual]
        for part in parts:
            if part is not None:
                try:
                    part.stop()
                except Exception as exc:  # noqa: BLE001 - keep shutting down
                    log.warning("stopping %s failed: %s", getattr(part, "name", part), exc)
        self.virtual = None
        if self.hotplug is not None:
            self.hotplug.stop()
        if self.core is not None:
            self.core.shutdown()  # waits (bounded) for the calls to end
        self._log_leftovers()
        if self.echo is not None:
            self.echo.stop()
        self.log.status("stopped")
        self.log.close()

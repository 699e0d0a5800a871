"""The appliance: wires a handset, the Phone, the call core, the echo test and the event log in one loop.

One queue. Everything that happens elsewhere only enqueues: device reader threads (HandsetEvents), pjsua's
thread (CallEvents), the udev monitor (HotplugNotices), the terminal handset, the signal watcher (Quit).
The main thread owns the Phone and the CallCore (pjsua2 calls happen only here) and blocks on
``queue.get(timeout=until the Phone's next deadline)``, so an idle phone wakes for nothing.

Handset choice: ``--replay TRACE`` (the trace is the handset, with its timing; the app quits a few seconds
after it ends), else the first attached handset udev reports, else the terminal as a virtual handset,
else (no TTY) a notice and a wait for a device (callers then get 480 at once instead of ringing nothing).
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
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Quit:
    reason: str


@dataclass(frozen=True)
class AudioNotice:
    """From the audio bridge's control thread: stream opened/closed, or a fault (said once)."""

    what: str
    data: dict[str, Any]


class Handset(Protocol):
    """What the app needs from a handset (a DeviceRunner-driven device or the virtual one)."""

    name: str

    def send(self, cmd: HandsetCommand) -> None: ...

    def stop(self) -> None: ...


class App:
    """``App(config, ...).run()`` is `usbphone run`."""

    def __init__(self, config: Config, *, bind: str | None = None, replay: str | None = None,
                 log_json: str | None = None, out: TextIO | None = None, stdin: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.bind = bind
        self.replay_path = replay
        self.out = out or sys.stdout
        self.stdin = stdin or sys.stdin
        self.clock = clock
        self.q: queue.Queue[Any] = queue.Queue()
        self.log = EventLog(log_json)
        try:
            self.settings, appkeys = settings_from_config(config.dialplan, config.extra.get("phone", {}),
                                                          config.path or "config")
        except ValueError as exc:
            raise UserError(str(exc), exit_code=2) from None
        self.country = str(appkeys["country"])
        echo = appkeys["echo_number"]
        self.echo_number = ("600" if not config.registrar_mode else "") if echo is None else str(echo)
        self.core: Any = None
        self.audio: Any = None
        self.echo: Any = None
        self.echo_calls: set[int] = set()
        self.hotplug: Any = None
        self.handset: Handset | None = None
        self.virtual: Any = None
        self.phone = Phone(self.settings, Capabilities(hook=True))
        self.volumes: Any = None  # VolumeStore, opened when a real device is first used
        self.replay_transport: Any = None
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
        if self.replay_path:
            handset_note = self._open_replay()  # parse the trace first: a bad one fails before SIP starts
        else:
            handset_note = ""
        self.core = CallCore(self.config, self.q.put, bind=self.bind, audio=self._audio())
        self.core.start()
        if not self.replay_path:
            handset_note = self._find_handset()
        self._print_status(handset_note)
        if self.replay_path:
            self.handset.runner.start()  # type: ignore[union-attr]
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
        self.audio = AudioBridge(None, None, config, notify=lambda what, data: self.q.put(AudioNotice(what, data)))
        return self.audio

    # -- handsets ------------------------------------------------------------------------------------
    def _open_replay(self) -> str:
        from usbphone.handsets import open_replay

        handset, self.replay_transport, note = open_replay(self.replay_path, self.q.put,  # type: ignore[arg-type]
                                                           self.log.device_write)
        self._use_handset(handset)
        return note

    def _replay_watch(self) -> None:
        transport = self.replay_transport
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
        if self.handset is not None:
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

        virtual = VirtualHandset(self.q.put, lambda: self.q.put(Quit("q pressed")), stdin=self.stdin, out=self.out)
        self.virtual = virtual
        self._use_handset(virtual, virtual.capabilities())
        return "virtual handset in this terminal (no USB handset attached)"

    def _use_handset(self, handset: Any, caps: Capabilities | None = None) -> None:
        self.handset = handset
        if self.audio is not None:
            self.audio.use_handset(getattr(handset, "syspath", None))  # its own USB sound card, if any
        old, self.phone = self.phone, Phone(self.settings, caps or handset.caps)
        self.phone.last_number, self.phone.dnd = old.last_number, old.dnd  # the line's, not the device's
        key = self._volume_key()
        saved = self._volume_store().get(key) if key else None
        if saved is not None:
            self.phone.volume, self.phone.ring_volume = saved
        self._perform(self.phone.handle_handset(HandsetEvent("device", "attached"), self.clock()))

    def _hotplug(self, notice: Any) -> None:
        key = notice.identity.key
        current = getattr(self.handset, "key", None)
        if notice.action == "detached" and key == current:
            self._perform(self.phone.handle_handset(HandsetEvent("device", "detached"), self.clock()))
            self.handset.stop()  # type: ignore[union-attr]
            self.handset = None
            if self.audio is not None:
                self.audio.use_handset(None)
            self.say(f"handset unplugged: {notice.found.info.name}")
            if self.stdin.isatty() and self.virtual is None:
                self.say(self._start_virtual())
                self.virtual.start()
        elif notice.action == "attached" and (self.handset is None or self.handset is self.virtual):
            self._open_device(notice)

    def _open_device(self, notice: Any) -> None:
        from usbphone.handsets import open_live

        try:
            handset = open_live(notice.found, notice.identity.key, self.q.put, self.log.device_write)
        except UserError as exc:
            self.say(f"cannot use {notice.found.info.name}: {exc}")
            return
        if self.virtual is not None:
            self.virtual.stop()
            self.virtual = None
        self._use_handset(handset)
        self.say(f"handset: {handset.name}")

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
        return replace(cmd, target=self.echo.uri)

    def _echo_call_ended(self, call_id: int | None) -> None:
        if call_id in self.echo_calls:
            self.echo_calls.discard(call_id)
            if not self.echo_calls and self.echo is not None:
                echo, self.echo = self.echo, None
                threading.Thread(target=echo.stop, name="echo-stop", daemon=True).start()
                self.log.status("echo_stopped")

    # -- the loop --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        if self.virtual is not None:
            self.virtual.start()
        while not self._stop:
            deadline = self.phone.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                item = self.q.get(timeout=timeout)
            except queue.Empty:
                item = None
            try:
                if item is None:
                    self._perform(self.phone.tick(self.clock()))
                else:
                    self._dispatch(item)
            except Exception as exc:  # a bug in one event's handling must not take the phone down
                log.debug("internal error handling %r", item, exc_info=True)  # traceback with -v -v
                self.log.status("internal_error", item=repr(item), error=f"{type(exc).__name__}: {exc}")
                self.say(f"internal error ({type(exc).__name__}: {exc}); still running")

    def _dispatch(self, item: Any) -> None:
        now = self.clock()
        if isinstance(item, HandsetEvent):
            self.log.write(item)
            if item.kind == "device" and item.value in ("detached", "error") and item.message:
                self.say(f"handset: {item.value}: {item.message}")
            self._perform(self.phone.handle_handset(item, now))
        elif isinstance(item, CallEvent):
            self.log.write(item)
            self._note_call_event(item)
            if item.kind == "ended":
                self._echo_call_ended(item.call_id)
            if item.kind == "incoming" and self.handset is None:
                self.say("  rejected (480): no handset attached to ring")
                self._call(CallCommand("reject", item.call_id, code=NO_HANDSET_CODE))
                return
            self._perform(self.phone.handle_call(item, now))
        elif isinstance(item, AudioNotice):
            self.log.status(item.what, audio=item.data)  # faults are also logged (once) by the bridge
        elif isinstance(item, Quit):
            self._stop = True
            self.log.status("quit", reason=item.reason)
        else:
            self._hotplug(item)
        if self.phone.next_deadline() is not None:
            self._perform(self.phone.tick(self.clock()))

    def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, HandsetCommand):
                self.log.write(action)
                if self.handset is not None:
                    self.handset.send(action)
                if self.audio is not None:
                    self._audio_command(action)
                if action.kind in ("volume", "ring_volume") and self._volume_key():
                    self._volume_store().put(self._volume_key(), self.phone.volume, self.phone.ring_volume)
            else:
                self._call(action)

    def _volume_key(self) -> str:
        """Volumes are kept for real devices (hotplug identity), not for replays or the terminal."""
        key = getattr(self.handset, "key", "")
        return "" if key in ("", "replay") else key

    def _volume_store(self) -> Any:
        if self.volumes is None:
            from usbphone.volumes import VolumeStore

            self.volumes = VolumeStore()
        return self.volumes

    def _audio_command(self, cmd: HandsetCommand) -> None:
        """Tones and volumes go to the earpiece; a handset with no ringer rings through its speaker."""
        if cmd.kind == "tone":
            self.audio.play_tone(cmd.value)
        elif cmd.kind == "volume":
            self.audio.set_volume(int(cmd.value))
        elif cmd.kind == "ring_volume":
            self.audio.set_ring_volume(int(cmd.value))
        elif cmd.kind == "speaker":
            self.audio.set_hands_free(cmd.value == "on")
        elif cmd.kind == "ring" and not self.phone.caps.ringer:
            self.audio.play_tone("ring" if cmd.value == "on" else "off")

    def _call(self, cmd: CallCommand) -> None:
        echo = cmd.kind == "dial" and bool(self.echo_number) and cmd.target == self.echo_number
        if echo:
            routed = self._echo_route(cmd)
            self.log.write(cmd, routed_to=routed.target)
            cmd = routed
        else:
            self.log.write(cmd)
        try:
            result = self.core.execute(cmd)
            error = ""
        except UserError as exc:
            result, error = None, str(exc)
            self.log.status("call_command_failed", command=cmd.kind, error=error)
            if cmd.kind in ("dial", "transfer_blind", "transfer_attended"):
                self.say(f"{cmd.kind}: {error}")
        if cmd.kind == "dial":
            if echo and result is not None:
                self.echo_calls.add(result)
            self._perform(self.phone.dial_result(result, self.clock(), error))

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
        lines.append(f"  handset:  {handset_note or self.handset.name}")  # type: ignore[union-attr]
        if self.echo_number:
            lines.append(f"  echo:     dial {self.echo_number} for the echo test (a SIP UA on loopback that echoes "
                         "audio and digits)")
        lines.append("  dial:     lift the handset, dial, # sends (or wait "
                     f"{self.settings.inter_digit_timeout:g} s); hang up to end. Ctrl-C quits.")
        self.say("\n".join(lines))
        self.log.status("ready", sip=self.core.local_address, handset=handset_note, echo=self.echo_number)

    def _log_leftovers(self) -> None:
        """Log what arrived after the loop stopped (the BYE answers to our last hang-ups)."""
        while True:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, HandsetEvent | CallEvent):
                self.log.write(item)

    # -- the end ----------------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        now = self.clock()
        if self.core is not None and self.core.started:
            self._perform(self.phone.handle_handset(HandsetEvent("device", "detached"), now))
        for part in (self.virtual, self.handset):
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

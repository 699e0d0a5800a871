"""Phone: the desk-phone state machine. HandsetEvents and CallEvents in, HandsetCommands and CallCommands out.

Pure: no I/O, no threads, no clocks of its own (every entry point takes ``now``), no pjsua2. The app feeds
it from one queue and executes what it returns; ``next_deadline()`` tells the app how long it may sleep.

States (``Phone.state``): idle, predial (digits typed on hook), dialtone, dialing, calling, ringback,
in_call, held (our call on hold, recall dial tone for a consultation call), ringing (incoming, or a
held call ringing back after hang-up), busy (failed/ended call: busy or reorder tone until on hook),
transfer (waiting for a transfer result), done (feature code accepted: confirm tone until on hook).
DND is a flag beside the state (``Phone.dnd``): it changes what an incoming call does, not the state.
Call bookkeeping: ``active`` (foreground call), ``held`` (background call), ``waiting`` (second incoming
call in a call), ``ringing`` (incoming call while on hook).

Outgoing calls: the Phone emits ``CallCommand("dial")``; the app executes it and must report the call id
the call core gave back with ``dial_result(call_id, now)`` before feeding the next event.

Edit this module to change hook/key/dialling behaviour; buttons live in buttons.py, call-core events in
call_events.py, dial-plan parsing in dialplan.py, knobs in settings.py, state names in states.py.
"""

from __future__ import annotations

from usbphone.drivers.base import Capabilities
from usbphone.events import CallCommand, CallEvent, HandsetCommand, HandsetEvent
from usbphone.phone.buttons import ButtonsMixin
from usbphone.phone.call_events import CallEventsMixin
from usbphone.phone.dialplan import DialPlan
from usbphone.phone.settings import PhoneSettings
from usbphone.phone.states import (
    BUSY,
    BUSY_CODES,
    CALLING,
    DIALING,
    DIALTONE,
    DONE,
    HELD,
    IDLE,
    IN_CALL,
    ON_HOOK_STATES,
    PREDIAL,
    RINGBACK,
    RINGING,
    TRANSFER,
    Call,
)

Action = HandsetCommand | CallCommand

class Phone(CallEventsMixin, ButtonsMixin):
    """One handset + one account behaving as one desk phone (see module docstring)."""

    def __init__(self, settings: PhoneSettings | None = None, capabilities: Capabilities | None = None) -> None:
        self.settings = settings or PhoneSettings()
        self.caps = capabilities or Capabilities(hook=True)
        self.plan = DialPlan(self.settings.digit_map, self.settings.features)
        self.state = IDLE
        self.digits = ""
        self.hook_off = False
        self.speaker_on = False
        self.muted = False
        self.dnd = False
        self.calls: dict[int, Call] = {}
        self.active: int | None = None
        self.held: int | None = None
        self.waiting: int | None = None
        self.ringing: int | None = None
        self.pending: Call | None = None
        self.consult = False  # the active call is a consultation we dialled while another is held
        self.blind = False  # the transfer key was pressed: the next number is a blind-transfer target
        self.recall = False  # the ringing call is our own held call ringing back
        self.transferring: set[int] = set()
        self.followed_transfer: str | None = None  # the far end transferred us to this number; pjsua follows
        self.last_number = ""
        self.registration = ""
        self.volume = self.settings.volume
        self.ring_volume = self.settings.ring_volume
        self.digit_deadline: float | None = None
        self.hook_deadline: float | None = None  # a hook-on inside the LED-echo window, applied if it stays
        self.timer_deadline: float | None = None
        self.tone = "off"
        self.leds: dict[str, str] = {}
        self.last_led_at = float("-inf")
        self.last_mute_at = float("-inf")
        self._now = 0.0
        self._out: list[Action] = []

    # -- public entry points ----------------------------------------------------------------------
    @property
    def offhook(self) -> bool:
        return self.state not in ON_HOOK_STATES

    def handle_handset(self, ev: HandsetEvent, now: float) -> list[Action]:
        self._now = now
        if ev.kind == "hook":
            self._hook(ev.value)
        elif ev.kind == "key":
            self._key(ev.value)
        elif ev.kind == "button":
            handler = getattr(self, f"_btn_{ev.value}", None)
            if handler is not None:
                handler()
        elif ev.kind == "device":
            self._device(ev.value)
        return self._flush()

    def handle_call(self, ev: CallEvent, now: float) -> list[Action]:
        self._now = now
        if ev.kind == "registration":
            self.registration = ev.value
        elif ev.kind == "incoming":
            self._incoming(ev)
        elif ev.kind == "transfer":
            self._transfer_result(ev.value, ev)
        elif ev.call_id is not None and ev.call_id not in self.calls and ev.kind in ("ringing", "connected"):
            self._adopt(ev)  # a call the far end made for us: it transferred us, or replaced our call
        if ev.kind in ("ringing", "connected") and ev.call_id in self.calls:
            call = self.calls[ev.call_id]  # type: ignore[index]
            if ev.kind == "ringing":
                self._remote_ringing(call, bool(ev.extra.get("early_media")))
            else:
                self._connected(call)
        elif ev.call_id is not None and ev.call_id in self.calls and ev.kind in ("held", "resumed", "ended"):
            call = self.calls[ev.call_id]
            if ev.kind == "held" and ev.extra.get("by") == "remote":
                self._lcd("held by remote", 2)
            elif ev.kind == "resumed" and call.call_id == self.active:
                self._lcd("", 2)
            elif ev.kind == "ended":
                self._ended(call, ev)
        elif ev.kind == "ended" and ev.call_id is not None:
            self.transferring.discard(ev.call_id)
        return self._flush()

    def dial_result(self, call_id: int | None, now: float, reason: str = "") -> list[Action]:
        """The call core's answer to our last ``dial``: its call id, or None when it could not dial."""
        self._now = now
        call, self.pending = self.pending, None
        if call is None:
            return []
        if call_id is None:
            self._failed(0, reason or "call failed")
        elif self.state not in (CALLING, RINGBACK):
            self._cmd("hangup", call_id)  # given up before the core answered
        else:
            call.call_id = call_id
            self.calls[call_id] = call
            self.active = call_id
        return self._flush()

    def tick(self, now: float) -> list[Action]:
        self._now = now
        if self.hook_deadline is not None and now >= self.hook_deadline:
            self.hook_deadline = None
            self.hook_off = False
            if not self.speaker_on:
                self._onhook()
        if self.digit_deadline is not None and now >= self.digit_deadline:
            self.digit_deadline = None
            if self.state == DIALING and self.digits:
                self._send(self.digits)
        if self.timer_deadline is not None and now >= self.timer_deadline:
            self._show_timer()
        return self._flush()

    def next_deadline(self) -> float | None:
        times = [t for t in (self.digit_deadline, self.timer_deadline, self.hook_deadline) if t is not None]
        return min(times) if times else None

    # -- output helpers ---------------------------------------------------------------------------
    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _hs(self, kind: str, value: str = "", target: str = "", line: int | None = None) -> None:
        self._out.append(HandsetCommand(kind, value, target=target, line=line))

    def _cmd(self, kind: str, call_id: int | None = None, **kw: object) -> None:
        self._out.append(CallCommand(kind, call_id=call_id, **kw))  # type: ignore[arg-type]

    def _led(self, name: str, value: str, force: bool = False) -> None:
        if force or self.leds.get(name, "off") != value:
            self.leds[name] = value
            self.last_led_at = self._now
            self._hs("led", value, target=name)

    def _tone(self, name: str) -> None:
        if self.tone != name:
            self.tone = name
            self._hs("tone", name)

    def _lcd(self, text: str, line: int | None = None) -> None:
        self._hs("lcd", text, line=line)  # devices without a display drop it in their driver

    def _mute_leds(self, on: bool) -> None:
        names = ["mute"]
        if "microphone" in self.caps.leds and "mute" not in self.caps.leds:
            names = ["microphone"]
        for name in names:
            self._led(name, "on" if on else "off", force=True)

    # -- handset events ---------------------------------------------------------------------------
    def _hook(self, value: str) -> None:
        toggle = self.caps.hook_kind == "toggle"
        hangs_up = self.offhook and (toggle or value == "on")
        in_window = self._now - self.last_led_at < self.settings.led_echo_window
        if toggle and in_window:
            return  # an echo of our own LED write (some headsets re-report the hook), not the user
        if not toggle:
            if value == "off" and self.hook_deadline is not None:
                self.hook_deadline = None  # on-then-off right after our LED write: it was the echo
                return
            if hangs_up and in_window:
                # maybe an echo: hang up only if the level stays "on" until the window closes
                self.hook_deadline = self.last_led_at + self.settings.led_echo_window
                return
        if toggle:
            value = "on" if self.offhook else "off"
        if value == "off":
            self.hook_off = True
            if self.speaker_on and self.offhook:
                self._speaker_hw(False)  # the handset takes over from hands-free
            else:
                self._offhook()
        else:
            self.hook_off = False
            if not self.speaker_on:
                self._onhook()

    def _key(self, d: str) -> None:
        st = self.state
        if st == IDLE and d != "#":
            self.state, self.digits = PREDIAL, d
            self._lcd(self.digits)
        elif st == PREDIAL and d != "#":
            self.digits += d
            self._lcd(self.digits)
        elif st in (DIALTONE, HELD) and not (d == self.settings.send_key):
            self.state, self.digits = DIALING, d
            self._tone("off")
            self._lcd(self.digits)
            self._after_digit()
        elif st == DIALING:
            if d == self.settings.send_key and self.digits:
                self._send(self.digits)
                return
            self.digits += d
            self._lcd(self.digits)
            self._after_digit()
        elif st == IN_CALL and self.active is not None and self.calls[self.active].status == "connected":
            self._cmd("dtmf", self.active, digits=d)

    def _after_digit(self) -> None:
        decision = self.plan.decide(self.digits, held_call=self.held is not None)
        if decision.action == "feature":
            self.digit_deadline = None
            self._feature(decision.feature, decision.argument)
        elif decision.action == "send":
            self._send(self.digits)
        else:
            self.digit_deadline = self._now + self.settings.inter_digit_timeout

    def _device(self, value: str) -> None:
        if value == "attached":
            self._hs("ring_volume", str(self.ring_volume))
            self._hs("volume", str(self.volume))
            if self.dnd:
                self._led("dnd", "on", force=True)
        elif value == "detached":
            if self.state == RINGING:
                self._hs("ring", "off")  # a speaker ring (handsets without a ringer) plays in the audio bridge
            self._tone("off")
            self._hangup_all()
            self.leds.clear()
            self.state, self.digits = IDLE, ""
            self.speaker_on = self.hook_off = self.muted = False
            self.digit_deadline = self.timer_deadline = None

    # -- hook transitions -------------------------------------------------------------------------
    def _offhook(self) -> None:
        if self.state == IDLE:
            self._dialtone()
        elif self.state == PREDIAL:
            digits = self.digits
            self._led("off_hook", "on")
            self._send(digits)
        elif self.state == RINGING:
            self._answer_ringing()

    def _dialtone(self) -> None:
        self.state, self.digits = DIALTONE, ""
        self._led("off_hook", "on")
        self._hs("lcd_clear")
        self._tone("dial")

    def _onhook(self) -> None:
        if not self.offhook:
            return
        self._tone("off")
        active = self.calls.get(self.active) if self.active is not None else None
        if active is not None and self.held is not None and self.consult:
            self._transfer_on_hook(active)
            return
        if self.active is not None:
            self._cmd("hangup", self.active)
            self._drop(self.active)
        if self.waiting is not None:
            cid, self.waiting = self.waiting, None
            self._go_idle()
            self._start_ringing(cid, recall=False)
        elif self.held is not None:
            cid, self.held = self.held, None
            self._go_idle()
            self._start_ringing(cid, recall=True)
        else:
            self._go_idle()

    def _transfer_on_hook(self, active: Call) -> None:
        held = self.held
        if active.status == "connected":  # attended: join the held party to the consultation call
            self._cmd("transfer_attended", held, other_call_id=active.call_id)
            self.transferring = {held, active.call_id}  # type: ignore[arg-type]
        else:  # still ringing: hand the held party over to the number being called (semi-attended)
            self._cmd("transfer_blind", held, target=active.number)
            self._cmd("hangup", active.call_id)
            self._drop(active.call_id)
            self.transferring = {held}  # type: ignore[arg-type]
        self.active = self.held = None
        self._go_idle()

    def _go_idle(self) -> None:
        self.state, self.digits = IDLE, ""
        self.consult = self.blind = self.recall = False
        self.digit_deadline = self.timer_deadline = None
        self._tone("off")
        if self.speaker_on:
            self._speaker_hw(False)
        if self.muted:
            self.muted = False
            self._mute_leds(False)
        for name in ("off_hook", "on_line", "hold"):
            self._led(name, "off")
        self._hs("lcd_clear")
        if self.dnd:
            self._lcd("DND", 2)

    # -- dialling ---------------------------------------------------------------------------------
    def _send(self, digits: str) -> None:
        self.digit_deadline = None
        decision = self.plan.finish(digits, held_call=self.held is not None)
        if decision.action == "feature":
            self._feature(decision.feature, decision.argument)
        elif self.blind and self.held is not None:
            self._blind_transfer(digits)
        else:
            self._dial(digits)

    def _dial(self, number: str) -> None:
        if not number:
            return
        self.last_number = number
        self.pending = Call(None, number, status="new")
        self.consult = self.held is not None
        self.state, self.digits = CALLING, ""
        self._tone("off")
        self._lcd(number)
        self._cmd("dial", target=number)

    def _feature(self, name: str, argument: str) -> None:
        if name == "redial":
            if self.last_number:
                self._dial(self.last_number)
            else:
                self._failed(0, "no number to redial")
        elif name in ("dnd_on", "dnd_off", "dnd_toggle"):
            self._set_dnd({"dnd_on": True, "dnd_off": False}.get(name, not self.dnd))
            self.state, self.digits = DONE, ""
            self._lcd("DND on" if self.dnd else "DND off")
            self._tone("confirm")
        elif name == "blind_transfer":
            self._blind_transfer(argument)

    def _blind_transfer(self, target: str) -> None:
        self._cmd("transfer_blind", self.held, target=target)
        self.transferring = {self.held}  # type: ignore[arg-type]
        self.state, self.digits, self.blind = TRANSFER, "", False
        self._tone("off")
        self._lcd(f"transfer {target}")

    def _failed(self, code: int, reason: str) -> None:
        self.state, self.digits = BUSY, ""
        self.digit_deadline = self.timer_deadline = None
        busy = code in BUSY_CODES
        self._tone("busy" if busy else "reorder")
        self._lcd("busy" if busy else (f"{code} {reason}" if code else reason).strip() or "call failed")

    # -- bookkeeping ------------------------------------------------------------------------------
    def _drop(self, cid: int | None) -> None:
        if cid is not None:
            self.calls.pop(cid, None)

    def _hangup_all(self) -> None:
        for cid in list(self.calls):
            self._cmd("hangup", cid)
        self.calls.clear()
        self.active = self.held = self.waiting = self.ringing = None
        self.pending = None
        self.transferring = set()

    def _start_timer(self, call: Call) -> None:
        if self.settings.call_timer and self.caps.lcd and call.connected_at is not None:
            self.timer_deadline = self._now + 1.0 - ((self._now - call.connected_at) % 1.0)

    def _show_timer(self) -> None:
        call = self.calls.get(self.active) if self.active is not None else None
        if self.state != IN_CALL or call is None or call.connected_at is None or self.waiting is not None:
            self.timer_deadline = None
            return
        secs = int(self._now - call.connected_at + 1e-6)
        self._lcd(f"{secs // 60}:{secs % 60:02d}", 2)
        self.timer_deadline = call.connected_at + secs + 1

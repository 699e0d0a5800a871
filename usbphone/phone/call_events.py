"""The Phone's reactions to the call core (incoming, ringing, connected, ended, transfer results),
split from machine.py to keep each module small. Edit this module to change what a call event does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usbphone.events import CallEvent
from usbphone.phone.states import (
    BUSY,
    CALLING,
    DIALTONE,
    DONE,
    HELD,
    IDLE,
    IN_CALL,
    PREDIAL,
    RINGBACK,
    RINGING,
    TRANSFER,
    Call,
)

if TYPE_CHECKING:
    from usbphone.phone.machine import Phone

    _Base = Phone
else:
    _Base = object


class CallEventsMixin(_Base):
    """Call-event behaviour of the Phone (mixed into ``Phone``)."""

    def _incoming(self, ev: CallEvent) -> None:
        if ev.call_id is None:
            return
        call = Call(ev.call_id, ev.remote_number, ev.remote_name, incoming=True, status="ringing")
        if self.dnd:
            self._cmd("reject", ev.call_id, code=self.settings.dnd_code)
        elif self.state in (IDLE, PREDIAL):
            self.calls[ev.call_id] = call
            self.digits = ""
            self._start_ringing(ev.call_id, recall=False)
        elif (self.state == IN_CALL and self.settings.call_waiting and self.waiting is None
              and self.held is None):
            self.calls[ev.call_id] = call
            self.waiting = ev.call_id
            self._tone("call_waiting")
            self._lcd(call.label, 2)
        else:
            self._cmd("reject", ev.call_id, code=self.settings.busy_code)

    def _start_ringing(self, call_id: int, recall: bool) -> None:
        self.state, self.ringing, self.recall = RINGING, call_id, recall
        self._hs("ring", "on", target=self.settings.ring_cadence)
        self._led("ring", "on")
        self._lcd(self.calls[call_id].label)

    def _stop_ringing(self) -> None:
        self._hs("ring", "off")
        self._led("ring", "off")

    def _answer_ringing(self) -> None:
        cid, self.ringing = self.ringing, None
        self._stop_ringing()
        self._led("off_hook", "on")
        call = self.calls[cid]  # type: ignore[index]
        self.state, self.active = IN_CALL, cid
        if self.recall:
            self.recall = False
            self._cmd("resume", cid)
            call.status = "connected"
            self._led("on_line", "on")
            self._start_timer(call)
        else:
            self._cmd("answer", cid)
            call.status = "answering"
        self._lcd(call.label)

    def _remote_ringing(self, call: Call, early_media: bool) -> None:
        call.status = "early"
        if call.call_id == self.active and self.state == CALLING:
            self.state = RINGBACK
            self._tone("off" if early_media else "ringback")

    def _connected(self, call: Call) -> None:
        call.status, call.connected_at = "connected", self._now
        if call.call_id != self.active:
            return
        if self.state in (CALLING, RINGBACK):
            self.state = IN_CALL
            self._tone("off")
        self._led("on_line", "on")
        self._start_timer(call)

    def _ended(self, call: Call, ev: CallEvent) -> None:
        cid = call.call_id
        self._drop(cid)
        if cid in self.transferring:
            self.transferring.discard(cid)
            if cid == self.active:
                self.active = None
            if self.state == TRANSFER and cid == self.held:
                self.held = None
                self._transfer_done()
            return
        if cid == self.ringing:
            self.ringing = None
            self._stop_ringing()
            self._go_idle()
        elif cid == self.waiting:
            self.waiting = None
            self._tone({IN_CALL: "off", BUSY: "busy"}.get(self.state, self.tone))
            self._lcd("", 2)
            if self.state == IN_CALL and self.active in self.calls:
                self._start_timer(self.calls[self.active])  # type: ignore[index]
        elif cid == self.held:
            self.held, self.consult = None, False
            if self.state == HELD:
                self.state = DIALTONE
                self._hs("lcd_clear")
            else:
                self._lcd("", 2)
        elif cid == self.active:
            self._active_ended(ev)

    def _active_ended(self, ev: CallEvent) -> None:
        was = self.state
        self.active, self.timer_deadline = None, None
        self._led("on_line", "off")
        if self.muted:
            self.muted = False
            self._mute_leds(False)
        if was in (CALLING, RINGBACK):
            self._failed(ev.code, ev.reason)
        elif self.held is not None:
            self._hold_state()
        elif self.waiting is not None:
            self.state = BUSY
            self._lcd(self.calls[self.waiting].label)
        elif self.caps.hook_kind == "toggle":
            self._go_idle()  # a headset has no hook to put down: the call button state follows us
        else:
            self.state = BUSY
            self._tone("busy")
            self._hs("lcd_clear")

    def _adopt(self, ev: CallEvent) -> None:
        """A call we did not place: the far end's INVITE with Replaces took over one of our calls, or the
        far end transferred us (REFER) and pjsua is calling the target for us. Either way it continues
        the call the person is on, so it takes that call's place."""
        old = ev.extra.get("replaces")
        if old is not None and old in self.calls:
            call = self.calls.pop(old)
            call.call_id = ev.call_id
            call.number, call.name = ev.remote_number or call.number, ev.remote_name or call.name
            self.calls[ev.call_id] = call  # type: ignore[index]
            for attr in ("active", "held", "waiting", "ringing"):
                if getattr(self, attr) == old:
                    setattr(self, attr, ev.call_id)
            self._lcd(call.label)
        elif self.followed_transfer is not None and self.offhook:
            self._drop(self.active)  # the transferred call ends by itself (the far end sends BYE)
            call = Call(ev.call_id, ev.remote_number or self.followed_transfer, ev.remote_name)
            self.calls[ev.call_id] = call  # type: ignore[index]
            self.active, self.followed_transfer = ev.call_id, None
            self.state, self.timer_deadline = CALLING, None
            self._lcd(call.label)

    def _transfer_result(self, value: str, ev: CallEvent | None = None) -> None:
        if value == "requested":
            self.followed_transfer = (ev.remote_number if ev else "") or "transfer"
            self._lcd(f"transfer to {self.followed_transfer}", 2)
        elif value == "succeeded":
            for cid in sorted(c for c in self.transferring if c in self.calls):
                self._cmd("hangup", cid)
                self._drop(cid)
            self.transferring = set()
            if self.active is not None and self.active not in self.calls:
                self.active = None
            if self.state == TRANSFER:
                self.held = None
                self._transfer_done()
        elif value == "failed":
            self.transferring = set()
            if self.state == TRANSFER and self.held is not None:
                self.state = BUSY
                self._tone("reorder")
                self._lcd("transfer failed")
            elif self.state == IDLE:
                self._recall_after_failed_transfer()

    def _recall_after_failed_transfer(self) -> None:
        calls = [c for c in self.calls.values() if c.call_id is not None]
        for call in calls:
            if call.status == "held" and self.ringing is None:
                self._start_ringing(call.call_id, recall=True)  # type: ignore[arg-type]
            else:
                self._cmd("hangup", call.call_id)
                self._drop(call.call_id)

    def _transfer_done(self) -> None:
        self.state = DONE
        self._tone("confirm")
        self._lcd("transferred")


"""The Phone's button handlers (flash/hold, mute, redial, pickup, hangup, reject, clear, transfer, DND,
volume, speaker), split from machine.py to keep each module small. ``Phone`` dispatches ``button X`` to
``_btn_X``; a button with no method here is ignored. Edit this module to change what a button does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usbphone.phone.states import (
    BUSY,
    CALLING,
    DIALING,
    DIALTONE,
    HELD,
    IDLE,
    IN_CALL,
    PREDIAL,
    RINGBACK,
    RINGING,
    TRANSFER,
)

if TYPE_CHECKING:
    from usbphone.phone.machine import Phone

    _Base = Phone
else:
    _Base = object


class ButtonsMixin(_Base):
    """Button behaviour of the Phone (mixed into ``Phone``)."""

    # -- buttons ----------------------------------------------------------------------------------
    def _btn_flash(self) -> None:
        st = self.state
        if self.waiting is not None and st in (IN_CALL, BUSY):
            if self.active is not None:
                self._hold(self.active)
                self.held = self.active
            cid, self.waiting = self.waiting, None
            self._cmd("answer", cid)
            self.calls[cid].status = "answering"
            self.state, self.active, self.consult = IN_CALL, cid, False
            self._tone("off")
            self._lcd(self.calls[cid].label)
        elif st == IN_CALL and self.held is not None:
            old, new = self.active, self.held
            self._hold(old)  # type: ignore[arg-type]
            self._resume(new)
            self.active, self.held = new, old
            self._lcd(self.calls[new].label)
        elif st == IN_CALL and self.active is not None:
            self._hold(self.active)
            self.held, self.active = self.active, None
            self._hold_state()
        elif st == HELD or (st in (DIALING, CALLING, RINGBACK, BUSY, TRANSFER) and self.held is not None):
            if self.active is not None:
                self._cmd("hangup", self.active)
                self._drop(self.active)
            cid, self.held = self.held, None
            self._resume(cid)  # type: ignore[arg-type]
            self.state, self.active, self.digits = IN_CALL, cid, ""
            self.consult = self.blind = False
            self.digit_deadline = None
            self._tone("off")
            self._led("hold", "off")
            self._lcd(self.calls[cid].label)  # type: ignore[index]
            self._start_timer(self.calls[cid])  # type: ignore[index]

    _btn_hold = _btn_flash

    def _hold(self, cid: int) -> None:
        self._cmd("hold", cid)
        self.calls[cid].status = "held"

    def _resume(self, cid: int) -> None:
        self._cmd("resume", cid)
        self.calls[cid].status = "connected"

    def _hold_state(self) -> None:
        self.state, self.digits, self.timer_deadline = HELD, "", None
        self._led("hold", "on")
        self._tone("dial")
        self._lcd(f"hold {self.calls[self.held].label}")  # type: ignore[index]

    def _btn_mute(self) -> None:
        if self._now - self.last_mute_at < self.settings.mute_window:
            self._mute_leds(self.muted)  # one press reported twice: keep the headset on our state
            return
        self.last_mute_at = self._now
        call = self.calls.get(self.active) if self.active is not None else None
        if self.state == IN_CALL and call is not None and call.status == "connected":
            self.muted = not self.muted
            self._cmd("mute" if self.muted else "unmute", self.active)
        self._mute_leds(self.muted)

    def _btn_redial(self) -> None:
        if not self.last_number:
            return
        if self.state in (IDLE, PREDIAL):
            self.state, self.digits = PREDIAL, self.last_number
            self._lcd(self.digits)
        elif self.state in (DIALTONE, DIALING, HELD):
            self._dial(self.last_number)

    def _btn_pickup(self) -> None:
        if self.state in (IDLE, PREDIAL, RINGING):
            if self.caps.speaker and not self.hook_off:
                self._btn_speaker()
            else:
                self._offhook()
        elif self.state == DIALING and self.digits:
            self._send(self.digits)
        elif self.waiting is not None or (self.state == HELD and self.active is None):
            self._btn_flash()  # answer the waiting call / take the held one back (phones with no flash key)

    def _btn_hangup(self) -> None:
        if self.state == RINGING:
            self._btn_reject()
            return
        if self.state == PREDIAL:
            self._go_idle()
            return
        if not self.offhook:
            return
        if self.state == HELD and self.active is None and not self.hook_off:
            self._onhook()  # only a held call left: as putting a handset down, it rings back (no endless hold)
            return
        if self.active is not None:
            self._cmd("hangup", self.active)
            self._drop(self.active)
        self.active, self.consult, self.blind = None, False, False
        if self.held is not None:
            self._led("on_line", "off")
            self._hold_state()
        elif self.hook_off and self.caps.hook_kind == "absolute":
            self._led("on_line", "off")
            self.timer_deadline = None
            self._dialtone()
        else:
            self._onhook()

    def _btn_reject(self) -> None:
        if self.state == RINGING and self.ringing is not None:
            cid, self.ringing = self.ringing, None
            self._cmd("reject", cid, code=self.settings.reject_code)
            self._drop(cid)
            self._stop_ringing()
            self._go_idle()
        elif self.waiting is not None:
            cid, self.waiting = self.waiting, None
            self._cmd("reject", cid, code=self.settings.busy_code)
            self._drop(cid)
            self._tone("off")
            self._lcd("", 2)

    def _btn_clear(self) -> None:
        if self.state == PREDIAL:
            self.digits = self.digits[:-1]
            if self.digits:
                self._lcd(self.digits)
            else:
                self._go_idle()
        elif self.state == DIALING:
            self.digits = self.digits[:-1]
            if self.digits:
                self._lcd(self.digits)
                self.digit_deadline = self._now + self.settings.inter_digit_timeout
            elif self.held is not None:
                self.digit_deadline = None
                self._hold_state()
            else:
                self.digit_deadline = None
                self._dialtone()

    def _btn_transfer(self) -> None:
        active = self.calls.get(self.active) if self.active is not None else None
        if self.held is not None and self.consult and active is not None:
            if active.status == "connected":
                self._cmd("transfer_attended", self.held, other_call_id=active.call_id)
                self.transferring = {self.held, active.call_id}  # type: ignore[arg-type]
                self.state = TRANSFER
                self._lcd("transfer")
            else:
                self._cmd("hangup", active.call_id)
                self._drop(active.call_id)
                self.active = None
                self._blind_transfer(active.number)
        elif self.state == IN_CALL and active is not None and self.held is None:
            self._hold(active.call_id)  # type: ignore[arg-type]
            self.held, self.active, self.blind = active.call_id, None, True
            self._hold_state()
            self._lcd("transfer to?", 2)
        elif self.state == HELD:
            self.blind = True
            self._lcd("transfer to?", 2)

    def _btn_dnd(self) -> None:
        self._set_dnd(not self.dnd)
        if self.dnd and self.state == RINGING and self.ringing is not None and not self.recall:
            cid, self.ringing = self.ringing, None
            self._cmd("reject", cid, code=self.settings.dnd_code)
            self._drop(cid)
            self._stop_ringing()
            self._go_idle()
        elif self.state in (IDLE, PREDIAL):
            self._lcd("DND" if self.dnd else "", 2)

    def _set_dnd(self, on: bool) -> None:
        self.dnd = on
        self._led("dnd", "on" if on else "off")

    def _btn_vol_up(self) -> None:
        self._volume(+self.settings.volume_step)

    def _btn_vol_down(self) -> None:
        self._volume(-self.settings.volume_step)

    def _volume(self, step: int) -> None:
        if self.offhook:
            self.volume = max(0, min(100, self.volume + step))
            self._hs("volume", str(self.volume))
        else:
            self.ring_volume = max(0, min(100, self.ring_volume + step))
            self._hs("ring_volume", str(self.ring_volume))

    def _btn_speaker(self) -> None:
        if not self.caps.speaker:
            return
        if not self.speaker_on:
            self._speaker_hw(True)
            if not self.offhook:
                self._offhook()
        else:
            self._speaker_hw(False)
            if not self.hook_off:
                self._onhook()

    def _speaker_hw(self, on: bool) -> None:
        self.speaker_on = on
        self._hs("speaker", "on" if on else "off")
        self._led("speaker", "on" if on else "off")


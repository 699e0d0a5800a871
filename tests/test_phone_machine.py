"""Phone state machine: every transition, driven by HandsetEvents and CallEvents, asserting the commands."""

import pytest

from usbphone.drivers.base import Capabilities
from usbphone.events import CallCommand, CallEvent, HandsetCommand, HandsetEvent
from usbphone.phone.machine import Phone
from usbphone.phone.settings import PhoneSettings

YEALINK = Capabilities(hook=True, hook_kind="absolute", keypad=True, leds={"ring"}, ringer=True, lcd=True,
                       speaker=False)
HEADSET = Capabilities(hook=True, hook_kind="toggle", leds={"off_hook", "mute", "ring", "hold"}, ringer=True)
SPEAKERPHONE = Capabilities(hook=True, keypad=True, lcd=True, ringer=True, speaker=True, leds={"speaker"})


class Rig:
    """A Phone plus a clock; each call returns what the Phone emitted."""

    def __init__(self, caps=YEALINK, **settings):
        self.phone = Phone(PhoneSettings(**settings), caps)
        self.t = 100.0
        self.next_id = 1

    def at(self, dt):
        self.t += dt
        return self

    def hs(self, kind, value):
        return self.phone.handle_handset(HandsetEvent(kind, value), self.t)

    def hook(self, value):
        self.t += 0.5  # people are slower than the LED-echo window
        return self.hs("hook", value)

    def keys(self, digits):
        out = []
        for d in digits:
            self.t += 0.3
            out += self.hs("key", d)
        return out

    def btn(self, name):
        return self.hs("button", name)

    def call(self, kind, call_id=None, **kw):
        return self.phone.handle_call(CallEvent(kind, call_id=call_id, **kw), self.t)

    def tick(self, dt):
        self.t += dt
        return self.phone.tick(self.t)

    def dialled(self, out):
        """Complete a dial the Phone asked for: hand it a call id like the call core does."""
        dials = [a for a in out if isinstance(a, CallCommand) and a.kind == "dial"]
        assert len(dials) == 1, out
        cid = self.next_id
        self.next_id += 1
        assert self.phone.dial_result(cid, self.t) == []
        return dials[0].target, cid

    def connect_out(self, number="100"):
        self.hook("off")
        out = self.keys(number + "#")
        target, cid = self.dialled(out)
        assert target == number
        self.call("ringing", cid)
        self.call("connected", cid)
        return cid

    def ring_in(self, cid=50, number="200", name=""):
        return self.call("incoming", cid, remote_number=number, remote_name=name)


def hcmds(out, kind=None):
    return [a for a in out if isinstance(a, HandsetCommand) and (kind is None or a.kind == kind)]


def ccmds(out, kind=None):
    return [a for a in out if isinstance(a, CallCommand) and (kind is None or a.kind == kind)]


def tones(out):
    return [a.value for a in hcmds(out, "tone")]


def leds(out):
    return [(a.target, a.value) for a in hcmds(out, "led")]


def lcd(out, line=None):
    return [a.value for a in hcmds(out, "lcd") if a.line == line]


# -- off hook, dialling --------------------------------------------------------------------------------
def test_off_hook_gives_dial_tone_and_clears_lcd():
    r = Rig()
    out = r.hook("off")
    assert r.phone.state == "dialtone"
    assert tones(out) == ["dial"] and hcmds(out, "lcd_clear") and ("off_hook", "on") in leds(out)
    out = r.hook("on")
    assert r.phone.state == "idle" and tones(out) == ["off"] and ("off_hook", "off") in leds(out)


def test_digits_stop_tone_show_on_lcd_and_hash_sends():
    r = Rig()
    r.hook("off")
    out = r.keys("1")
    assert r.phone.state == "dialing" and tones(out) == ["off"] and lcd(out) == ["1"]
    out = r.keys("00")
    assert lcd(out) == ["10", "100"] and not ccmds(out)
    out = r.keys("#")
    assert ccmds(out, "dial")[0].target == "100" and r.phone.state == "calling"


def test_inter_digit_timeout_sends_default_4s():
    r = Rig()
    r.hook("off")
    r.keys("123")
    assert r.phone.next_deadline() == pytest.approx(r.t + 4.0)
    assert r.tick(3.9) == []
    out = r.tick(0.2)
    assert ccmds(out, "dial")[0].target == "123"
    assert r.phone.next_deadline() is None


def test_inter_digit_timeout_configurable():
    r = Rig(inter_digit_timeout=1.5)
    r.hook("off")
    r.keys("7")
    assert ccmds(r.tick(1.6), "dial")[0].target == "7"


def test_digit_map_match_sends_at_once():
    r = Rig(digit_map=("600", "1xx"))
    r.hook("off")
    out = r.keys("600")
    assert ccmds(out, "dial")[0].target == "600"


def test_pickup_key_sends():
    r = Rig()
    r.hook("off")
    r.keys("42")
    assert ccmds(r.btn("pickup"), "dial")[0].target == "42"


def test_clear_key_deletes_and_returns_to_dial_tone():
    r = Rig()
    r.hook("off")
    r.keys("12")
    out = r.btn("clear")
    assert lcd(out) == ["1"] and r.phone.digits == "1"
    out = r.btn("clear")
    assert r.phone.state == "dialtone" and tones(out) == ["dial"] and r.phone.next_deadline() is None


def test_predial_on_hook_then_lift_calls():
    r = Rig()
    out = r.keys("555")
    assert r.phone.state == "predial" and lcd(out)[-1] == "555" and not tones(out)
    r.btn("clear")
    assert r.phone.digits == "55"
    out = r.hook("off")
    assert ccmds(out, "dial")[0].target == "55" and not tones(out)[:1] == ["dial"]


def test_predial_then_pickup_calls():
    r = Rig(caps=Capabilities(hook=True, keypad=True, lcd=True))
    r.keys("77")
    assert ccmds(r.btn("pickup"), "dial")[0].target == "77"


def test_on_hook_while_dialling_and_calling_cancels():
    r = Rig()
    r.hook("off")
    r.keys("12")
    out = r.hook("on")
    assert r.phone.state == "idle" and not ccmds(out)
    r.hook("off")
    _, cid = r.dialled(r.keys("12#"))
    out = r.hook("on")
    assert ccmds(out, "hangup")[0].call_id == cid and r.phone.state == "idle"


def test_dial_failure_in_core_gives_reorder():
    r = Rig()
    r.hook("off")
    r.keys("9#")
    out = r.phone.dial_result(None, r.t, "no route")
    assert r.phone.state == "busy" and tones(out) == ["reorder"] and lcd(out) == ["no route"]


# -- outgoing call progress -------------------------------------------------------------------------
def test_ringback_connected_timer_and_hangup():
    r = Rig()
    r.hook("off")
    _, cid = r.dialled(r.keys("100#"))
    out = r.call("ringing", cid)
    assert r.phone.state == "ringback" and tones(out) == ["ringback"]
    out = r.call("connected", cid)
    assert r.phone.state == "in_call" and tones(out) == ["off"] and ("on_line", "on") in leds(out)
    assert lcd(r.tick(1.0), 2) == ["0:01"]
    r.tick(1.0)
    for _ in range(63):
        out = r.tick(1.0)
    assert lcd(out, 2) == ["1:05"]
    out = r.hook("on")
    assert ccmds(out, "hangup")[0].call_id == cid and r.phone.state == "idle" and ("on_line", "off") in leds(out)
    assert r.phone.next_deadline() is None


def test_early_media_plays_no_local_ringback():
    r = Rig()
    r.hook("off")
    _, cid = r.dialled(r.keys("100#"))
    out = r.call("ringing", cid, extra={"early_media": True})
    assert r.phone.state == "ringback" and tones(out) == []


@pytest.mark.parametrize("code,tone,text", [(486, "busy", "busy"), (404, "reorder", "404 Not Found")])
def test_busy_or_failed_gives_tone_and_message_until_on_hook(code, tone, text):
    r = Rig()
    r.hook("off")
    _, cid = r.dialled(r.keys("100#"))
    out = r.call("ended", cid, code=code, reason=text.split(" ", 1)[-1])
    assert r.phone.state == "busy" and tones(out) == [tone] and lcd(out) == [text]
    assert r.keys("5") == [] and r.tick(30) == []
    out = r.hook("on")
    assert tones(out) == ["off"] and r.phone.state == "idle"


def test_remote_hangup_of_connected_call():
    r = Rig()
    cid = r.connect_out()
    out = r.call("ended", cid, code=200, reason="BYE")
    assert r.phone.state == "busy" and tones(out) == ["busy"] and ("on_line", "off") in leds(out)
    assert hcmds(out, "lcd_clear")
    r.hook("on")
    assert r.phone.state == "idle"


def test_remote_hangup_on_toggle_headset_goes_idle():
    r = Rig(caps=HEADSET)
    r.hook("off")
    _, cid = r.dialled(r.keys("1#"))
    r.call("connected", cid)
    out = r.call("ended", cid, code=200)
    assert r.phone.state == "idle" and ("off_hook", "off") in leds(out)


def test_dtmf_in_call():
    r = Rig()
    cid = r.connect_out()
    out = r.keys("5*")
    assert [(c.call_id, c.digits) for c in ccmds(out, "dtmf")] == [(cid, "5"), (cid, "*")]


def test_no_dtmf_before_connect():
    r = Rig()
    r.hook("off")
    r.dialled(r.keys("100#"))
    assert r.keys("5") == []


# -- mute -------------------------------------------------------------------------------------------
def test_mute_toggles_with_led_and_bursts_are_one_press():
    r = Rig(caps=HEADSET)
    r.hook("off")
    _, cid = r.dialled(r.keys("1#"))
    r.call("connected", cid)
    r.at(1)
    out = r.btn("mute")
    assert [c.kind for c in ccmds(out)] == ["mute"] and leds(out) == [("mute", "on")]
    r.at(0.1)
    out = r.btn("mute")  # the headset reported the same press again
    assert ccmds(out) == [] and leds(out) == [("mute", "on")]
    r.at(1)
    out = r.btn("mute")
    assert [c.kind for c in ccmds(out)] == ["unmute"] and leds(out) == [("mute", "off")]


def test_mute_outside_call_answers_led_off():
    r = Rig(caps=HEADSET)
    out = r.btn("mute")
    assert ccmds(out) == [] and leds(out) == [("mute", "off")]


def test_mute_led_microphone_when_device_has_only_that():
    caps = Capabilities(hook=True, leds={"microphone", "off_hook"})
    r = Rig(caps=caps)
    cid = r.connect_out()
    out = r.at(1).btn("mute")
    assert leds(out) == [("microphone", "on")] and ccmds(out, "mute")[0].call_id == cid


def test_call_end_clears_mute():
    r = Rig()
    cid = r.connect_out()
    r.at(1).btn("mute")
    out = r.hook("on")
    assert ("mute", "off") in leds(out) and not r.phone.muted
    assert ccmds(out, "hangup")[0].call_id == cid


# -- flash, hold, consultation, transfer -----------------------------------------------------------------
def test_flash_holds_with_dial_tone_and_flash_resumes():
    r = Rig()
    cid = r.connect_out()
    out = r.btn("flash")
    assert ccmds(out, "hold")[0].call_id == cid and r.phone.state == "held" and tones(out) == ["dial"]
    assert ("hold", "on") in leds(out)
    out = r.btn("flash")
    assert ccmds(out, "resume")[0].call_id == cid and r.phone.state == "in_call" and tones(out) == ["off"]
    assert r.keys("1") and ccmds(r.keys("2"), "dtmf")


def test_hold_button_is_flash():
    r = Rig()
    cid = r.connect_out()
    assert ccmds(r.btn("hold"), "hold")[0].call_id == cid


def test_attended_transfer_flash_number_hang_up():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    target, second = r.dialled(r.keys("200#"))
    assert target == "200" and r.phone.consult
    r.call("connected", second)
    out = r.hook("on")
    xfer = ccmds(out, "transfer_attended")
    assert xfer and xfer[0].call_id == first and xfer[0].other_call_id == second
    assert r.phone.state == "idle"
    out = r.call("transfer", first, value="succeeded")
    assert {c.call_id for c in ccmds(out, "hangup")} == {first, second}
    assert r.call("ended", first) == [] and r.phone.state == "idle"


def test_hang_up_while_consultation_rings_is_blind_transfer():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    _, second = r.dialled(r.keys("200#"))
    r.call("ringing", second)
    out = r.hook("on")
    assert ccmds(out, "transfer_blind")[0].call_id == first and ccmds(out, "transfer_blind")[0].target == "200"
    assert ccmds(out, "hangup")[0].call_id == second


def test_failed_attended_transfer_rings_back_the_held_party():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    _, second = r.dialled(r.keys("200#"))
    r.call("connected", second)
    r.hook("on")
    r.call("ended", second)
    out = r.call("transfer", first, value="failed")
    assert r.phone.state == "ringing" and hcmds(out, "ring")[0].value == "on"
    out = r.hook("off")
    assert ccmds(out, "resume")[0].call_id == first and r.phone.state == "in_call"


def test_consultation_busy_then_flash_back_to_held():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    _, second = r.dialled(r.keys("200#"))
    out = r.call("ended", second, code=486, reason="Busy Here")
    assert tones(out) == ["busy"] and r.phone.state == "busy"
    out = r.btn("flash")
    assert ccmds(out, "resume")[0].call_id == first and r.phone.state == "in_call"


def test_blind_transfer_feature_code():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    out = r.keys("*2300#")
    xfer = ccmds(out, "transfer_blind")
    assert xfer[0].call_id == first and xfer[0].target == "300" and r.phone.state == "transfer"
    assert not ccmds(out, "dial")
    out = r.call("transfer", first, value="succeeded")
    assert ccmds(out, "hangup")[0].call_id == first and r.phone.state == "done" and tones(out) == ["confirm"]
    r.hook("on")
    assert r.phone.state == "idle"


def test_blind_transfer_failure_lets_flash_resume():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    r.keys("*2300#")
    out = r.call("transfer", first, value="failed")
    assert r.phone.state == "busy" and lcd(out) == ["transfer failed"] and tones(out) == ["reorder"]
    assert ccmds(r.btn("flash"), "resume")[0].call_id == first


def test_transfer_key_blind_then_attended():
    r = Rig()
    first = r.connect_out("100")
    out = r.btn("transfer")
    assert ccmds(out, "hold") and r.phone.blind
    out = r.keys("300#")
    assert ccmds(out, "transfer_blind")[0].target == "300" and not ccmds(out, "dial")
    r2 = Rig()
    first = r2.connect_out("100")
    r2.btn("flash")
    _, second = r2.dialled(r2.keys("200#"))
    r2.call("connected", second)
    out = r2.btn("transfer")
    x = ccmds(out, "transfer_attended")[0]
    assert (x.call_id, x.other_call_id) == (first, second) and r2.phone.state == "transfer"


def test_on_hook_with_held_call_rings_back():
    r = Rig()
    cid = r.connect_out()
    r.btn("flash")
    out = r.hook("on")
    assert r.phone.state == "ringing" and r.phone.recall and hcmds(out, "ring")[0].value == "on"
    out = r.hook("off")
    assert ccmds(out, "resume")[0].call_id == cid and r.phone.state == "in_call"


def test_held_call_ends_remotely_leaves_dial_tone():
    r = Rig()
    cid = r.connect_out()
    r.btn("flash")
    r.call("ended", cid)
    assert r.phone.state == "dialtone"
    assert ccmds(r.keys("5#"), "dial")


# -- incoming ---------------------------------------------------------------------------------------
def test_incoming_rings_with_cadence_led_and_caller_then_off_hook_answers():
    r = Rig(ring_cadence="classic")
    out = r.ring_in(7, number="200", name="Alice")
    ring = hcmds(out, "ring")[0]
    assert (ring.value, ring.target) == ("on", "classic") and ("ring", "on") in leds(out)
    assert lcd(out) == ["Alice"] and r.phone.state == "ringing"
    out = r.hook("off")
    assert ccmds(out, "answer")[0].call_id == 7 and hcmds(out, "ring")[0].value == "off"
    assert ("ring", "off") in leds(out) and r.phone.state == "in_call"
    out = r.call("connected", 7)
    assert ("on_line", "on") in leds(out)
    out = r.call("ended", 7, code=200)
    assert r.phone.state == "busy"


def test_caller_number_shown_when_no_name():
    assert lcd(Rig().ring_in(3, number="5551234")) == ["5551234"]


def test_pickup_answers():
    r = Rig()
    r.ring_in(7)
    assert ccmds(r.btn("pickup"), "answer")[0].call_id == 7


@pytest.mark.parametrize("button", ["reject", "hangup"])
@pytest.mark.parametrize("code", [603, 486])
def test_reject_key_while_ringing(button, code):
    r = Rig(reject_code=code)
    r.ring_in(7)
    out = r.btn(button)
    rej = ccmds(out, "reject")[0]
    assert (rej.call_id, rej.code) == (7, code) and hcmds(out, "ring")[0].value == "off"
    assert r.phone.state == "idle"


def test_remote_cancel_stops_ringer_at_once():
    r = Rig()
    r.ring_in(7)
    out = r.call("ended", 7, code=487, reason="Request Terminated")
    assert hcmds(out, "ring")[0].value == "off" and out.index(hcmds(out, "ring")[0]) == 0
    assert ("ring", "off") in leds(out) and hcmds(out, "lcd_clear") and r.phone.state == "idle"


def test_incoming_while_dialling_is_busy():
    r = Rig()
    r.hook("off")
    out = r.ring_in(9)
    assert ccmds(out, "reject")[0].code == 486 and r.phone.state == "dialtone"


def test_incoming_clears_predial():
    r = Rig()
    r.keys("12")
    r.ring_in(9)
    assert r.phone.state == "ringing" and r.phone.digits == ""


# -- call waiting -----------------------------------------------------------------------------------
def test_call_waiting_tone_lcd_and_flash_swaps():
    r = Rig()
    first = r.connect_out("100")
    out = r.ring_in(9, number="300", name="Bob")
    assert tones(out) == ["call_waiting"] and lcd(out, 2) == ["Bob"] and not hcmds(out, "ring")
    out = r.btn("flash")
    assert ccmds(out, "hold")[0].call_id == first and ccmds(out, "answer")[0].call_id == 9
    assert tones(out) == ["off"] and r.phone.active == 9 and r.phone.held == first
    r.call("connected", 9)
    out = r.btn("flash")
    assert ccmds(out, "hold")[0].call_id == 9 and ccmds(out, "resume")[0].call_id == first
    out = r.btn("flash")
    assert ccmds(out, "resume")[0].call_id == 9
    out = r.hook("on")  # hang up the active one: the other rings back
    assert ccmds(out, "hangup")[0].call_id == 9 and r.phone.state == "ringing" and r.phone.recall
    assert ccmds(r.hook("off"), "resume")[0].call_id == first


def test_waiting_call_cancelled_stops_tone():
    r = Rig()
    r.connect_out()
    r.ring_in(9)
    out = r.call("ended", 9, code=487)
    assert tones(out) == ["off"] and lcd(out, 2) == [""] and r.phone.waiting is None


def test_reject_waiting_call():
    r = Rig()
    r.connect_out()
    r.ring_in(9)
    out = r.btn("reject")
    assert ccmds(out, "reject")[0].call_id == 9 and ccmds(out, "reject")[0].code == 486


def test_on_hook_with_waiting_call_rings_it():
    r = Rig()
    first = r.connect_out()
    r.ring_in(9)
    out = r.hook("on")
    assert ccmds(out, "hangup")[0].call_id == first and r.phone.state == "ringing" and r.phone.ringing == 9
    assert ccmds(r.hook("off"), "answer")[0].call_id == 9


def test_call_waiting_disabled_rejects_busy():
    r = Rig(call_waiting=False)
    r.connect_out()
    assert ccmds(r.ring_in(9), "reject")[0].code == 486


def test_active_ends_while_call_waits_then_flash_answers():
    r = Rig()
    first = r.connect_out()
    r.ring_in(9)
    r.call("ended", first)
    assert r.phone.state == "busy"
    assert ccmds(r.btn("flash"), "answer")[0].call_id == 9


# -- DND, redial, volume, speaker -------------------------------------------------------------------
def test_dnd_button_rejects_without_ringing_and_shows_led_lcd():
    r = Rig(dnd_code=486)
    out = r.btn("dnd")
    assert r.phone.dnd and ("dnd", "on") in leds(out) and lcd(out, 2) == ["DND"]
    out = r.ring_in(5)
    assert ccmds(out, "reject")[0].code == 486 and not hcmds(out, "ring") and r.phone.state == "idle"
    out = r.btn("dnd")
    assert not r.phone.dnd and ("dnd", "off") in leds(out) and lcd(out, 2) == [""]
    assert hcmds(r.ring_in(6), "ring")


def test_dnd_feature_codes():
    r = Rig()
    r.hook("off")
    out = r.keys("*78")
    assert r.phone.dnd and tones(out)[-1] == "confirm" and r.phone.state == "done" and lcd(out)[-1] == "DND on"
    out = r.hook("on")
    assert lcd(out, 2) == ["DND"]
    r.hook("off")
    r.keys("*79")
    assert not r.phone.dnd
    r.hook("on")
    r.hook("off")
    r.keys("*76")
    assert r.phone.dnd


def test_dnd_pressed_while_ringing_rejects():
    r = Rig()
    r.ring_in(5)
    out = r.btn("dnd")
    assert ccmds(out, "reject")[0].call_id == 5 and r.phone.state == "idle"


def test_redial_key_and_feature_code():
    r = Rig()
    r.connect_out("4711")
    r.hook("on")
    out = r.btn("redial")
    assert r.phone.state == "predial" and lcd(out) == ["4711"]
    assert ccmds(r.hook("off"), "dial")[0].target == "4711"
    r.hook("on")
    r.hook("off")
    assert ccmds(r.btn("redial"), "dial")[0].target == "4711"
    r.hook("on")
    r.hook("off")
    assert ccmds(r.keys("*0"), "dial")[0].target == "4711"


def test_redial_with_nothing_to_redial():
    r = Rig()
    assert r.btn("redial") == []
    r.hook("off")
    out = r.keys("*0")
    assert r.phone.state == "busy" and tones(out)[-1] == "reorder"


def test_volume_keys_earpiece_in_call_ring_while_ringing():
    r = Rig(volume=50, ring_volume=50, volume_step=10)
    r.ring_in(5)
    assert hcmds(r.btn("vol_up"), "ring_volume")[0].value == "60"
    r.hook("off")
    assert hcmds(r.btn("vol_down"), "volume")[0].value == "40"
    for _ in range(10):
        out = r.btn("vol_down")
    assert hcmds(out, "volume")[0].value == "0"
    assert r.phone.ring_volume == 60  # kept for the next call


def test_device_attach_restores_volumes():
    r = Rig(volume=30, ring_volume=70)
    out = r.hs("device", "attached")
    assert hcmds(out, "volume")[0].value == "30" and hcmds(out, "ring_volume")[0].value == "70"


def test_device_detach_hangs_up():
    r = Rig()
    cid = r.connect_out()
    out = r.hs("device", "detached")
    assert ccmds(out, "hangup")[0].call_id == cid and r.phone.state == "idle"


def test_speaker_key_hands_free():
    r = Rig(caps=SPEAKERPHONE)
    out = r.btn("speaker")
    assert hcmds(out, "speaker")[0].value == "on" and r.phone.state == "dialtone"
    _, cid = r.dialled(r.keys("1#"))
    r.call("connected", cid)
    out = r.hook("off")  # lift the handset: hands-free off, call goes on
    assert hcmds(out, "speaker")[0].value == "off" and r.phone.state == "in_call" and not ccmds(out)
    r.btn("speaker")  # back to hands-free, then put the handset down: call goes on
    assert ccmds(r.hook("on")) == [] and r.phone.state == "in_call"
    out = r.btn("speaker")  # speaker off with handset down = hang up
    assert ccmds(out, "hangup")[0].call_id == cid and r.phone.state == "idle"


def test_speaker_key_ignored_without_speaker():
    r = Rig()
    assert r.btn("speaker") == [] and r.phone.state == "idle"


def test_speaker_answers_ringing():
    r = Rig(caps=SPEAKERPHONE)
    r.ring_in(5)
    out = r.btn("speaker")
    assert ccmds(out, "answer")[0].call_id == 5


# -- hook kinds and echoes -------------------------------------------------------------------------------
def test_toggle_hook_any_report_flips():
    r = Rig(caps=HEADSET)
    r.ring_in(5)
    r.at(1)
    out = r.hook("on")  # a toggle device may report either level: it means "the call button"
    assert ccmds(out, "answer")[0].call_id == 5
    r.call("connected", 5)
    r.at(1)
    out = r.hook("on")
    assert ccmds(out, "hangup")[0].call_id == 5 and r.phone.state == "idle"
    r.at(1)
    assert r.hook("on") and r.phone.state == "dialtone"


def test_hook_echo_after_led_write_is_not_a_hang_up():
    r = Rig()
    r.connect_out()  # writes led on_line at r.t
    r.at(0.05)
    assert r.hs("hook", "on") == [] and r.phone.state == "in_call"
    r.at(0.05)
    assert r.hs("hook", "off") == [] and r.phone.hook_deadline is None  # the level came back: an echo
    assert not ccmds(r.tick(1.0)) and r.phone.state == "in_call"


def test_real_hang_up_inside_the_echo_window_is_applied_when_it_closes():
    r = Rig()
    cid = r.connect_out()
    r.at(0.05)
    assert r.hs("hook", "on") == []
    assert r.phone.hook_deadline == pytest.approx(r.t - 0.05 + 0.25)
    out = r.tick(0.25)
    assert ccmds(out, "hangup")[0].call_id == cid and r.phone.state == "idle"


def test_toggle_echo_after_answer_is_ignored():
    r = Rig(caps=HEADSET)
    r.ring_in(5)
    r.at(1)
    r.hook("off")  # answer: we write led off_hook on
    r.at(0.1)
    assert r.hs("hook", "on") == [] and r.phone.state == "in_call"


def test_unknown_call_events_are_ignored():
    r = Rig()
    assert r.call("connected", 99) == [] and r.call("ended", 99) == [] and r.call("dtmf", 99, value="1") == []
    assert r.call("registration", value="registered") == [] and r.phone.registration == "registered"


def test_far_end_transfers_us_and_the_new_call_takes_over():
    r = Rig()
    old = r.connect_out("100")
    out = r.call("transfer", old, value="requested", remote_number="300")
    assert lcd(out, 2) == ["transfer to 300"]
    out = r.call("ringing", 7, extra={"direction": "out"})
    assert r.phone.active == 7 and r.phone.state == "ringback" and tones(out) == ["ringback"]
    assert r.call("ended", old, code=200) == [] and r.phone.state == "ringback"
    r.call("connected", 7, remote_number="300")
    assert r.phone.state == "in_call"
    assert ccmds(r.hook("on"), "hangup")[0].call_id == 7


def test_invite_with_replaces_takes_over_our_call():
    r = Rig()
    r.ring_in(5, number="100")
    r.hook("off")
    r.call("connected", 5)
    out = r.call("connected", 9, remote_number="200", extra={"replaces": 5})
    assert r.phone.active == 9 and lcd(out) == ["200"]
    assert r.call("ended", 5) == [] and r.phone.state == "in_call"
    assert ccmds(r.hook("on"), "hangup")[0].call_id == 9


def test_unknown_call_without_transfer_is_ignored():
    r = Rig()
    r.connect_out()
    assert r.call("ringing", 42) == [] and r.phone.active != 42


def test_transfer_key_attended_success_then_on_hook_sends_nothing_stale():
    r = Rig()
    first = r.connect_out("100")
    r.btn("flash")
    _, second = r.dialled(r.keys("200#"))
    r.call("connected", second)
    r.btn("transfer")
    r.call("ended", second)  # the target dropped our leg: it was replaced
    out = r.call("transfer", first, value="succeeded")
    assert [c.call_id for c in ccmds(out, "hangup")] == [first] and r.phone.state == "done"
    assert r.phone.active is None and tones(out) == ["confirm"]
    assert ccmds(r.hook("on")) == [] and r.phone.state == "idle"


def test_device_unplugged_while_ringing_stops_ring_and_tone():
    r = Rig()
    r.ring_in(5)
    out = r.hs("device", "detached")
    assert hcmds(out, "ring")[0].value == "off" and ccmds(out, "hangup")[0].call_id == 5
    r2 = Rig()
    r2.hook("off")
    assert tones(r2.hs("device", "detached")) == ["off"]


def test_waiting_call_ends_after_active_ended_gives_busy_tone():
    r = Rig()
    first = r.connect_out()
    r.ring_in(9)
    r.call("ended", first)
    out = r.call("ended", 9, code=487)
    assert tones(out) == ["busy"] and r.phone.state == "busy"


BUTTONS_ONLY = Capabilities(hook=False, hook_kind="none", keypad=True, buttons={"pickup", "hangup"}, ringer=True)


def test_phone_without_hook_or_flash_takes_a_held_call_back_with_pickup():
    """CM109/P1K: pickup answers the waiting call, hangup ends it, pickup resumes the held one (was stuck held)."""
    r = Rig(BUTTONS_ONLY)
    r.btn("pickup")
    target, first = r.dialled(r.keys("100#"))
    r.call("connected", first)
    r.ring_in(9, number="300")
    out = r.btn("pickup")
    assert ccmds(out, "hold")[0].call_id == first and ccmds(out, "answer")[0].call_id == 9
    r.call("connected", 9)
    out = r.btn("hangup")
    assert ccmds(out, "hangup")[0].call_id == 9 and r.phone.state == "held"
    out = r.btn("pickup")
    assert ccmds(out, "resume")[0].call_id == first and r.phone.state == "in_call"


def test_phone_without_hook_hangup_with_only_a_held_call_rings_it_back():
    r = Rig(BUTTONS_ONLY)
    r.btn("pickup")
    _, first = r.dialled(r.keys("100#"))
    r.call("connected", first)
    r.ring_in(9, number="300")
    r.btn("pickup")
    r.call("connected", 9)
    r.btn("hangup")
    out = r.btn("hangup")  # was: held again, forever
    assert r.phone.state == "ringing" and r.phone.recall and hcmds(out, "ring")[0].value == "on"
    assert ccmds(r.btn("pickup"), "resume")[0].call_id == first

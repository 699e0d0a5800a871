"""The generic HID telephony driver: capabilities, decoding semantics and output reports, on the real
descriptors in ../shared/hid-data (skipped when absent) and on layouts built with Rdesc."""

from __future__ import annotations

from typing import Any

import pytest
from hid_data import NO_TELEPHONY, TELEPHONY, ids_from_name, real_descriptor

from usbphone.drivers.hid_telephony import HidTelephonyDriver
from usbphone.events import HandsetCommand
from usbphone.hid.rdesc_builder import APPLICATION, ARRAY, LOGICAL, NOPREF, REL, VAR, Rdesc
from usbphone.profiles.schema import DeviceInfo, MatchRule, Profile, ProfileError


def driver_for(descriptor: bytes, options: dict[str, Any] | None = None,
               quirks: dict[str, Any] | None = None) -> HidTelephonyDriver:
    profile = None
    if options or quirks:
        HidTelephonyDriver.validate_options(options or {}, "test [options]")
        HidTelephonyDriver.validate_quirks(quirks or {}, "test [quirks]")
        profile = Profile("t", "t", "hid_telephony", "hidraw", (MatchRule(vid=1),), dict(options or {}),
                          dict(quirks or {}))
    return HidTelephonyDriver(profile, DeviceInfo(vid=1, pid=2, name="test", descriptor=descriptor))


def decode_all(drv: HidTelephonyDriver, reports: list[bytes]) -> list[str]:
    out: list[str] = []
    for i, data in enumerate(reports):
        out += [str(e) for e in drv.decode(data, i * 0.1)]
    return out


def send(drv: HidTelephonyDriver, words: str) -> list[str]:
    return [o.data.hex(" ") for o in drv.encode(HandsetCommand.parse(words.split()))]


# -- real descriptors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TELEPHONY))
def test_real_telephony_capabilities(name: str) -> None:
    vid, pid = ids_from_name(name)
    drv = HidTelephonyDriver(None, DeviceInfo(vid=vid, pid=pid, descriptor=real_descriptor(name)))
    caps = drv.capabilities()
    leds, ringer, keypad = TELEPHONY[name]
    assert caps.telephony and caps.hook
    assert caps.leds == leds and caps.ringer == ringer and caps.keypad == keypad
    assert "mute" in caps.buttons and "flash" in caps.buttons or name.startswith("cmedia")


@pytest.mark.parametrize("name", NO_TELEPHONY)
def test_real_descriptor_without_telephony_is_reported_not_an_error(name: str) -> None:
    drv = HidTelephonyDriver(None, DeviceInfo(descriptor=real_descriptor(name)))
    caps = drv.capabilities()
    assert not caps.telephony and not caps.hook and not caps.leds
    assert caps.summary() == "no telephony controls (audio only)"
    assert send(drv, "led off_hook on") == [] and send(drv, "ring on") == []


def real_driver(name: str) -> HidTelephonyDriver:
    return HidTelephonyDriver(None, DeviceInfo(descriptor=real_descriptor(name)))


def test_real_output_reports_keep_the_whole_report() -> None:
    jabra = real_driver("jabra_evolve-link-ms_0b0e-0307.rdesc.bin")
    assert send(jabra, "led off_hook on") == ["02 01 00"]
    assert send(jabra, "led mute on") == ["02 03 00"]  # off-hook bit kept
    assert send(jabra, "ring on") == ["02 23 00"]  # Ringer b5 (§4.2)
    assert send(jabra, "led off_hook off") == ["02 22 00"]
    poly = HidTelephonyDriver(None, DeviceInfo(descriptor=real_descriptor(
        "plantronics_blackwire-3220_047f-c056_if5-telephony.rdesc.bin")))
    assert send(poly, "led off_hook on") == ["17 01"] and send(poly, "led mute on") == ["09 01"]
    assert send(poly, "ring on") == ["18 01"]  # no Ringer usage: the Ring LED rings it
    assert send(poly, "led speaker on") == ["1e 01"] and send(poly, "speaker on") == []
    bt700 = real_driver("plantronics_poly-bt700_047f-02e6.rdesc.bin")
    assert [s.split()[0] for s in send(bt700, "led off_hook on")] == ["24"]  # BT700 LEDs live in ids 0x21-0x25
    senn = real_driver("sennheiser_sc660-anc-usb_1395-0082.rdesc.bin")
    assert send(senn, "led off_hook on") == ["09 02"] and send(senn, "led mute on") == ["09 03"]


def test_real_jabra_keypad_and_first_report() -> None:
    drv = HidTelephonyDriver(None, DeviceInfo(descriptor=real_descriptor("jabra_biz-2400-ii_0b0e-2453.rdesc.bin")))

    def rep(hook: int = 0, key: int = 12) -> bytes:  # §4.2: b0 hook, keypad nibble at bits 7-10 after the id
        value = hook | key << 7
        return bytes([2, value & 0xFF, value >> 8])

    assert decode_all(drv, [rep(hook=1, key=12), rep(hook=1, key=3), rep(hook=1, key=12), rep(hook=1, key=10),
                            rep(hook=1, key=12), rep(hook=0)]) == [
        "hook off", "key 3", "key_up 3", "key *", "key_up *", "hook on"]


# -- semantics on layouts of our own -----------------------------------------------------------------------
def gn_like() -> bytes:
    d = Rdesc().page(0x0B).usage(0x05).collection(APPLICATION).report_id(2)
    d.bits("input", [0x20], VAR | NOPREF).bits("input", [0x2F, 0x21], VAR | REL).bits("input", [0x24], VAR)
    d.usage(0x06).collection(LOGICAL).logical(0, 11).size(4).count(1).usage_range(0xB0, 0xBB).input(ARRAY).end()
    d.page(0x08).bits("output", [0x17, 0x09, 0x18], VAR | NOPREF).page(0x0B).bits("output", [0x9E], VAR)
    d.pad("output", 4).end()
    d.page(0x0C).usage(0x01).collection(APPLICATION).report_id(1).bits("input", [0xE9, 0xEA, 0xE2], VAR)
    d.pad("input", 5).end()
    return d.bytes()


def gn(hook: int = 0, mute: int = 0, flash: int = 0, redial: int = 0, key: int = 15) -> bytes:
    return bytes([2, hook | mute << 1 | flash << 2 | redial << 3 | (key & 0xF) << 4])


def test_first_report_is_silent_unless_lifted() -> None:
    assert decode_all(driver_for(gn_like()), [gn(mute=1, key=5), gn(mute=1, key=5)]) == []
    assert decode_all(driver_for(gn_like()), [gn(hook=1), gn(hook=1), gn(hook=0)]) == ["hook off", "hook on"]


def test_relative_is_one_press_absolute_has_release_repeats_are_nothing() -> None:
    drv = driver_for(gn_like())
    got = decode_all(drv, [gn(), gn(mute=1), gn(mute=1), gn(), gn(redial=1), gn(redial=1), gn(), gn(flash=1), gn()])
    assert got == ["button mute", "button redial", "button_up redial", "button flash"]


def test_keypad_array_and_out_of_range() -> None:
    drv = driver_for(gn_like())
    got = decode_all(drv, [gn(), gn(key=0), gn(key=12), gn(key=11), gn(key=9), gn(key=15)])
    assert got == ["key 0", "key_up 0", "key #", "key_up #", "key 9", "key_up 9"]


def test_consumer_mute_only_without_phone_mute_unless_configured() -> None:
    consumer = [bytes([1, 0]), bytes([1, 4]), bytes([1, 0]), bytes([1, 1])]
    assert decode_all(driver_for(gn_like()), consumer) == ["button vol_up"]
    assert decode_all(driver_for(gn_like(), {"consumer_mute": "mute"}), consumer) == [
        "button mute", "button_up mute", "button vol_up"]
    assert decode_all(driver_for(gn_like(), {"consumer_volume": False}), consumer) == []


def test_mute_switch_option_and_repeat_quirk() -> None:
    d = Rdesc().page(0x0B).usage(0x05).collection(APPLICATION).bits("input", [0x2F, 0x20], VAR).pad("input", 6)
    desc = d.end().bytes()
    switch = driver_for(desc, {"mute": "switch"})
    assert decode_all(switch, [b"\x00", b"\x01", b"\x00"]) == ["button mute", "button mute"]
    quirky = driver_for(gn_like(), quirks={"repeat_suppress_ms": 250})
    got = [str(e) for t, r in [(0, gn()), (1.0, gn(mute=1)), (1.05, gn()), (1.1, gn(mute=1)), (1.2, gn()),
                              (2.0, gn(mute=1))] for e in quirky.decode(r, t)]
    assert got == ["button mute", "button mute"]
    assert quirky.stats["suppressed_repeat"] == 1


def test_toggle_hook_becomes_a_level() -> None:
    d = Rdesc().page(0x0B).usage(0x05).collection(APPLICATION).bits("input", [0x20], VAR | REL).pad("input", 7)
    drv = driver_for(d.end().bytes())
    assert drv.capabilities().hook_kind == "toggle"
    assert decode_all(drv, [b"\x01", b"\x00", b"\x01", b"\x01", b"\x00", b"\x01", b"\x00", b"\x01"]) == [
        "hook off", "hook on", "hook off"]  # the first report (a pulse tail?) only sets state


def test_bad_reports_are_counted_not_raised() -> None:
    drv = driver_for(gn_like())
    assert drv.decode(b"", 0) == [] and drv.decode(b"\x07\x01", 0) == [] and drv.decode(b"\x02", 0) == []
    assert drv.stats["unknown_report"] == 2 and drv.stats["short_report"] == 1


def test_outputs_ring_blink_stop() -> None:
    drv = driver_for(gn_like())
    assert send(drv, "led ring on") == ["02 04"]
    assert send(drv, "ring on") == ["02 0c"]  # Ringer (b3) as well, Ring LED kept
    assert send(drv, "led off_hook blink") == ["02 0d"]  # lit now, switched from poll (below)
    assert send(drv, "led speaker on") == [] and send(drv, "lcd 123") == []
    assert [o.data.hex(" ") for o in drv.stop()] == ["02 00"]
    assert send(driver_for(gn_like(), {"ring": "led"}), "ring on") == ["02 04"]
    assert send(driver_for(gn_like(), {"blink": "off"}), "led mute blink") == ["02 00"]


def polled(drv: HidTelephonyDriver, t: float) -> list[str]:
    return [o.data.hex(" ") for o in drv.poll(t)]


def test_blink_is_switched_from_poll_one_write_per_report() -> None:
    drv = driver_for(gn_like())  # output report 2: b0 LED Off-Hook, b1 LED Mute, b2 LED Ring, b3 Ringer
    assert drv.read_timeout(0.0) is None  # nothing blinks: the runner may block until the headset reports
    assert send(drv, "led mute blink") == ["02 02"]
    assert drv.read_timeout(0.0) is not None
    assert polled(drv, 0.0) == [] and polled(drv, 0.3) == [] and 0.19 < drv.read_timeout(0.3) <= 0.2
    step = drv.poll(0.5)
    assert [(o.data.hex(" "), o.timed) for o in step] == [("02 00", True)]  # off after 0.5 s: a step, logged
    assert send(drv, "led off_hook blink") == ["02 01"]
    assert polled(drv, 0.6) == [] and polled(drv, 1.1) == ["02 02"]  # both switch, in one write
    assert send(drv, "led mute on") == ["02 02"]  # steady now
    assert polled(drv, 1.6) == ["02 03"]  # only Off-Hook still blinks
    assert send(drv, "led off_hook off") == ["02 02"] and drv.read_timeout(2.0) is None and polled(drv, 5.0) == []
    assert send(drv, "led ring blink") == ["02 06"]
    assert [o.data.hex(" ") for o in drv.stop()] == ["02 00"] and polled(drv, 9.0) == []
    steady = driver_for(gn_like(), {"blink": "on"})  # for a headset that echoes LED writes as input
    assert send(steady, "led mute blink") == ["02 02"] and steady.read_timeout(0.0) is None
    assert send(driver_for(gn_like()), "led message blink") == []  # no such LED: nothing to blink


@pytest.mark.parametrize("options,field", [
    ({"hook": "sometimes"}, "hook"), ({"consumer_volume": "yes"}, "consumer_volume"), ({"colour": 1}, "colour")])
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError, match=f"where.*'{field}'"):
        HidTelephonyDriver.validate_options(options, "where")


def test_bad_quirk_names_the_quirk() -> None:
    with pytest.raises(ProfileError, match="repeat_suppress_ms"):
        HidTelephonyDriver.validate_quirks({"repeat_suppress_ms": -5}, "where")
    with pytest.raises(ProfileError, match="'wobble'"):
        HidTelephonyDriver.validate_quirks({"wobble": 1}, "where")


def test_mutated_descriptors_and_reports_never_raise_anything_else() -> None:
    import random

    from hid_data import DESCRIPTORS

    from usbphone.hid.descriptor import DescriptorError

    blobs = [p.read_bytes() for p in sorted(DESCRIPTORS.glob("*.rdesc.bin"))]
    if not blobs:
        pytest.skip("../shared/hid-data/descriptors not present")
    rng = random.Random(20261127)
    parsed = 0
    for _ in range(400):
        raw = bytearray(rng.choice(blobs))
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        try:
            drv = HidTelephonyDriver(None, DeviceInfo(descriptor=bytes(raw)))
        except ProfileError as exc:
            assert isinstance(exc.__context__, DescriptorError | type(None))
            continue
        parsed += 1
        for _ in range(10):
            drv.decode(bytes(rng.randrange(256) for _ in range(rng.randint(0, 16))), 0.0)
        drv.capabilities()
        send(drv, "led mute on")
        send(drv, "ring on")
    assert parsed > 50

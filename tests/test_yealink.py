"""Yealink driver: packet vectors from ../shared/hid-data, documented output bytes, the LCD segment table bit for
bit, and the real DeviceRunner polling a protocol simulator (P1K, P4K, B2K, B3G, P1KH)."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from usbphone.drivers import yealink_proto as yp
from usbphone.drivers.yealink import YealinkDriver
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.simulators.recording import VirtualClock, pump
from usbphone.hid.simulators.yealink import YealinkSimulator
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo

ROOT = Path(__file__).resolve().parents[1]
PACKETS = ROOT.parent / "shared" / "hid-data" / "raw" / "yealink_usb-b2k-b3g_6993-b001.g1-ctl-packets.hex"
DEV = DeviceInfo(vid=0x6993, pid=0xB001, name="Yealink test")


def driver(**options: object) -> YealinkDriver:
    """A driver from the shipped profile, with ``options`` overriding its [options]."""
    prof = profile_by_id("yealink-usb-p1k")
    opts = {**prof.options, **options}
    YealinkDriver.validate_options(opts, "test")
    return YealinkDriver(dataclasses.replace(prof, options=opts), DEV)


def cmd(*words: str) -> HandsetCommand:
    return HandsetCommand.parse(list(words))


def raw_packets() -> dict[str, tuple[bytes, bool]]:
    if not PACKETS.is_file():
        pytest.skip(f"{PACKETS} not present")
    out = {}
    for line in PACKETS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, hexbytes, flag = line.split("\t")
        out.setdefault(name, (bytes.fromhex(hexbytes), flag == "sum_ok=True"))
    return out


# -- packet vectors --------------------------------------------------------------------------------------
def test_37_packets_3_rejected_34_accepted() -> None:
    if not PACKETS.is_file():
        pytest.skip(f"{PACKETS} not present")
    lines = [ln for ln in PACKETS.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 37
    d = driver(model="b2k")
    rejected = []
    for line in lines:
        name, hexbytes, flag = line.split("\t")
        d.decode(bytes.fromhex(hexbytes), 0.0)  # never raises
        try:
            yp.parse_packet(bytes.fromhex(hexbytes))
        except yp.PacketError:
            rejected.append(name)
        assert (name not in rejected) == (flag == "sum_ok=True")
    assert sorted(rejected) == ["COMMENTED_T_TEST", "DEVICE_MODEL_ALTERNATIVE", "HOOKPRESS(0x8b)"]
    assert d.stats["bad_packet"] == 3
    assert d.stats["packets"] == 34


def test_requests_match_the_documented_bytes() -> None:
    pk = raw_packets()
    assert yp.g1_packet(yp.CMD_KEYPRESS, size=1) == pk["KEYPRESS(0x80)"][0]
    assert yp.g1_packet(yp.CMD_SCANCODE, size=1, offset=0) == pk["KEYCODE(0x81)"][0]
    assert yp.g1_packet(yp.CMD_HANDSET, size=1) == pk["HANDSET_QUERY(0x8d)"][0]
    assert yp.g1_packet(yp.CMD_VERSION, size=2) == pk["DEVICE_MODEL(0x87)"][0]
    assert yp.g1_packet(yp.CMD_INIT, size=10) == pk["SERIAL_NUMBER(was_INIT_0x8e)"][0]
    assert [o.data for o in driver().start()] == [pk["DEVICE_MODEL(0x87)"][0]]


def test_b2k_outputs_match_the_documented_bytes() -> None:
    pk = raw_packets()
    d = driver(model="b2k")
    assert [o.data for o in d.encode(cmd("ring", "on"))] == [pk["RING_ON"][0]]
    assert [o.data for o in d.encode(cmd("ring", "off"))] == [pk["RING_OFF"][0]]
    assert [o.data for o in d.encode(cmd("tone", "dial"))] == [pk["TONE_ON"][0]]
    assert [o.data for o in d.encode(cmd("tone", "off"))] == [pk["TONE_OFF"][0]]
    assert d.encode(cmd("lcd", "123")) == []  # the B2K has no LCD
    on_usb = d.encode(cmd("pstn", "off"))
    assert [o.data for o in on_usb] == [pk["USB_ON(PSTN_OFF)"][0], pk["LEDS_BOTH_OFF"][0]]
    assert [o.data for o in d.encode(cmd("led", "on_line", "on"))] == [pk["LEDS_ONLY_USB_ON"][0]]
    d.pstn_ring = True  # PSTN LED shows PSTN ringing
    assert [o.data for o in d.encode(cmd("led", "on_line", "on"))] == [pk["LEDS_BOTH_ON"][0]]
    d.pstn_ring = False
    to_pstn = d.encode(cmd("pstn", "on"))
    assert [o.data for o in to_pstn] == [pk["USB_OFF(PSTN_ON)"][0], pk["LEDS_ONLY_PSTN_ON"][0]]
    assert all(o.transport == "control" for o in to_pstn)
    goodbye = [o.data for o in d.stop()]
    assert pk["USB_OFF(PSTN_ON)"][0] in goodbye and pk["TONE_OFF"][0] in goodbye


def test_p1k_ringer_volume_and_led_polarity() -> None:
    d = driver(model="p1k")
    # §2.4 RINGTONE: P1K 0x24 = on, 0 = off
    assert d.encode(cmd("ring", "on"))[0].data == yp.g1_packet(0x03, b"\x24")
    assert d.encode(cmd("ring", "off"))[0].data == yp.g1_packet(0x03, b"\x00")
    assert d.encode(cmd("ring_volume", "100"))[0].data == yp.g1_packet(0x11, b"\xff")
    assert d.encode(cmd("led", "ring", "on"))[0].data == bytes.fromhex("05 01 00 00 01" + "00" * 10 + "f9")
    inverted = driver(model="p1k", led_polarity="on_is_0")
    assert inverted.encode(cmd("led", "ring", "on"))[0].data[4] == 0
    assert inverted.encode(cmd("led", "ring", "off"))[0].data[4] == 1
    assert d.encode(cmd("speaker", "on")) == []  # only P4K-like phones have hands-free
    p1kh = driver(model="p1kh", generation=2)
    assert p1kh.encode(cmd("ring", "on"))[0].data == yp.g2_packet(0x03, b"\xff")


def test_p4k_backlight_speaker_and_dialtone() -> None:
    d = driver(model="p4k")
    assert d.encode(cmd("led", "backlight", "on"))[0].data == yp.g1_packet(0x12, b"\x01")
    assert d.encode(cmd("speaker", "on"))[0].data == yp.g1_packet(0x0C, b"\x01")
    assert d.encode(cmd("tone", "dial"))[0].data == yp.g1_packet(0x09, b"\x01")
    assert d.encode(cmd("ring", "on")) == []  # no buzzer on the P4K
    assert d.capabilities().speaker and not d.capabilities().ringer


# -- LCD ---------------------------------------------------------------------------------------------
# §2.7 line 3: digit i uses bytes 2*(11-i) (a 0x10, b 0x20, c 0x40, d 0x80) and 2*(11-i)+1 (e 0x80, g 0x40, f 0x20)
SEG_BITS = {"a": (0, 0x10), "b": (0, 0x20), "c": (0, 0x40), "d": (0, 0x80), "e": (1, 0x80), "g": (1, 0x40),
            "f": (1, 0x20)}
DIGITS = {"0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
          "7": "abc", "8": "abcdefg", "9": "abcdfg"}


def expected_lcd(number: str) -> bytes:
    want = bytearray(24)
    for i, ch in enumerate(number):
        for seg in DIGITS[ch]:
            off, mask = SEG_BITS[seg]
            want[2 * (11 - i) + off] |= mask
    return bytes(want)


def apply_lcd(packets: list[bytes], buf: bytearray) -> None:
    for p in packets:
        assert yp.checksum_ok(p) and p[0] == 0x04 and len(p) == 16
        size, off = p[1], (p[2] << 8) | p[3]
        buf[off : off + size] = p[4 : 4 + size]


def test_lcd_12_digits_bit_for_bit_and_only_changes_resent() -> None:
    d = driver(model="p1k")
    buf = bytearray(24)
    apply_lcd([o.data for o in d.encode(cmd("lcd", "123456789012"))], buf)
    assert bytes(buf) == expected_lcd("123456789012")
    second = [o.data for o in d.encode(cmd("lcd", "123456789018"))]  # last digit: bytes 0/1 only
    assert len(second) == 1 and second[0][1] == 2 and second[0][3] == 0
    apply_lcd(second, buf)
    assert bytes(buf) == expected_lcd("123456789018")
    assert d.encode(cmd("lcd", "123456789018")) == []  # nothing changed, nothing sent


def test_lcd_lines_1_and_2_keep_line_3_bits() -> None:
    d = driver(model="p1k")
    d.encode(cmd("lcd", "888888888888"))
    d.encode(cmd("lcd", "NEW,SU", "2"))
    d.encode(cmd("lcd", "12.31.M1.59...   ", "1"))
    data = bytes(d.lcd.data)
    for k in range(24):  # line 3's bits are untouched by lines 1/2
        mask = 0xF0 if k % 2 == 0 else 0xE0
        assert data[k] & mask == expected_lcd("888888888888")[k] & mask
    assert data[23] & 0x02 and data[1] & 0x08  # NEW, SU (§2.7 line 2 icons)
    assert data[22] & 0x01 and data[11] & 0x08  # icon "M", ":" (§2.7 line 1)


# -- polling loop on a virtual clock -------------------------------------------------------------------
def run(model: str, actions: dict, until: float, **opts: object) -> tuple[list[str], YealinkDriver, YealinkSimulator]:
    sim = YealinkSimulator(model)
    d = driver(**opts)
    if model == "p1kh":
        d.set_packet_size(8)
    clock = VirtualClock()
    acts = {t: (lambda f=f: f(sim, d)) for t, f in actions.items()}
    events = pump(d, sim, clock, until, actions=acts)
    return [str(e) for e in events], d, sim


def test_version_selects_model_and_serial_is_read() -> None:
    for model in ("p1k", "p4k", "b2k", "b3g", "p1kh"):
        _, d, sim = run(model, {}, 0.3)
        assert d.active_model == model
        assert d.serial.startswith(sim.serial[:6].hex())
        assert f"model {model.upper()}" in d.capabilities().notes[0]


def test_bad_reply_dropped_counted_and_polling_recovers() -> None:
    acts = {0.3: lambda s, d: setattr(s, "corrupt_replies", 2), 0.6: lambda s, d: s.press(0x11),
            0.8: lambda s, d: s.release()}
    events, d, _ = run("p1k", acts, 1.5)
    assert events == ["key 5", "key_up 5"]
    assert d.stats["bad_packet"] == 2 and d.stats["reply_timeout"] >= 1


def test_phone_rejecting_a_packet_is_counted() -> None:
    d = driver(model="p1k")
    assert d.decode(yp.g1_packet(yp.STATE_BAD_PKT), 0.0) == []
    assert d.stats["device_rejected"] == 1


def test_hook_first_report_silent_and_lifted_at_start() -> None:
    events, _, _ = run("p4k", {0.5: lambda s, d: s.set_hook(True)}, 1.0)
    assert events == ["hook off"]
    events, _, _ = run("b2k", {0.0: lambda s, d: s.set_hook(True)}, 0.5)
    assert events == ["hook off"]  # lifted before the first poll: reported once
    events, _, _ = run("b3g", {}, 0.5)
    assert events == []


def test_stuck_key_released_after_timeout(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        events, _, _ = run("p1k", {0.3: lambda s, d: s.press(0x03)}, 3.0, stuck_key_timeout=1.0)
    assert events == ["button pickup", "button_up pickup"]
    assert "button pickup held for" in caplog.text


def test_b2k_ring_cadence_switches_the_ringer() -> None:
    d2 = driver()
    sim2 = YealinkSimulator("b2k")
    clock = VirtualClock()
    acts = {0.3: lambda: d2.encode(cmd("ring", "on", "short")), 2.35: lambda: d2.encode(cmd("ring", "off"))}
    pump(d2, sim2, clock, 2.6, actions=acts)
    states = [p.data[0] for p in sim2.commands("B2K_RING")]
    assert states == [1, 0, 1, 0, 1, 0]  # "short" = 0.5 s on / 0.5 s off, over 2 s, then off


def test_profile_key_override_and_new_pid_need_no_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from usbphone.hid.open import select_driver
    from usbphone.profiles.loader import load_profiles

    local = tmp_path / "yealink-compatible"
    local.mkdir()
    (local / "profile.toml").write_text(
        '[device]\nname = "Yealink-compatible phone"\ndriver = "yealink"\ntransport = "pyusb"\n'
        '[[match]]\nvid = 0x6993\npid = 0xb123\n[options]\nmodel = "p1k"\n'
        '[options.keys]\n"0x05" = "button redial"\n'
    )
    monkeypatch.setenv("USBPHONE_DEVICES", str(tmp_path))
    profiles = load_profiles()
    prof, d = select_driver(DeviceInfo(vid=0x6993, pid=0xB123), None, profiles)
    assert prof is not None and prof.id == "yealink-compatible"
    d.decode(yp.g1_packet(yp.CMD_KEYPRESS, b"\x01"), 0.0)
    d.decode(yp.g1_packet(yp.CMD_KEYPRESS, b"\x02"), 0.1)
    assert [str(e) for e in d.decode(yp.g1_packet(yp.CMD_SCANCODE, b"\x05"), 0.2)] == ["button redial"]


# -- the real runner over the simulator (threads, real time) ------------------------------------------
def wait_for(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


@pytest.mark.parametrize("model,press,word", [("p1k", 0x31, "key 0"), ("p4k", 0x44, "button redial"),
                                              ("b2k", 0x0C, "key #"), ("b3g", 0x07, "key 7"),
                                              ("p1kh", 0x10, "key 0")])
def test_device_runner_with_simulator(model: str, press: int, word: str) -> None:
    sim = YealinkSimulator(model)
    d = driver()
    if model == "p1kh":
        d.set_packet_size(8)
    events: list[HandsetEvent] = []
    lock = threading.Lock()

    def emit(e: HandsetEvent) -> None:
        with lock:
            events.append(e)

    def seen() -> list[str]:
        with lock:
            return [str(e) for e in events]

    runner = DeviceRunner(d, sim, emit, name=f"sim-{model}")
    runner.start()
    try:
        assert wait_for(lambda: d.phase == "scan" and d.active_model == model)
        time.sleep(0.25)
        sim.set_hook(True)
        sim.press(press)
        kind, value = word.split(" ")
        assert wait_for(lambda: word in seen()), seen()
        sim.release()
        up = f"{'key_up' if kind == 'key' else 'button_up'} {value}"
        assert wait_for(lambda: up in seen()), seen()
        if model in ("p4k", "b2k", "b3g"):
            assert "hook off" in seen()
        if model in ("p1k", "p4k", "p1kh"):
            runner.send(cmd("lcd", "5551234"))
            assert wait_for(lambda: sim.line3() == "5551234     "), sim.line3()
    finally:
        runner.stop()
    assert not runner.error
    assert sim.bad_writes == 0
    if model in ("b2k", "b3g"):
        assert sim.state.get("PSTN_SWITCH") == 1  # back to PSTN at exit (§2.4)


def test_probe_names_the_model_from_version() -> None:
    from usbphone.drivers.probe import identify

    sim = YealinkSimulator("b3g")
    notes = identify(driver(), sim, timeout=2.0)
    assert notes[0] == "model B3G (version 0x0550)" and notes[1].startswith("serial ")
    assert sim.closed and sim.state.get("PSTN_SWITCH") == 1  # closed after the goodbye writes


def test_led_blink_is_switched_from_poll() -> None:
    d = driver(model="p1k")
    sim = YealinkSimulator("p1k")
    clock = VirtualClock()
    pump(d, sim, clock, 2.2, actions={0.2: lambda: d.encode(cmd("led", "ring", "blink")),
                                      1.9: lambda: d.encode(cmd("led", "ring", "off"))})
    states = [p.data[0] for p in sim.commands("LED")]
    assert states == [1, 0, 1, 0, 0]  # on at 0.2, toggles every 0.5 s, then off (mainline polarity 1 = on)


# §2.6 scan-code tables, written out from the protocol notes (P4K DIAL/SEND -> pickup, HELP -> menu, DEL ->
# clear are our choices, documented in usbphone/drivers/yealink_keys.py)
P1K_ROWS = "1 2 3 pickup out . 4 5 6 hangup clear . 7 8 9 in down . * 0 # up"  # high nibble row, low column
SECTION_2_6 = {
    "p1k": {row * 0x10 + col: name for row, line in enumerate(P1K_ROWS.split(" . "))
            for col, name in enumerate(line.split())},
    "p1kh": dict(enumerate("1 2 3 pickup out 4 5 6 hangup clear 7 8 9 in down * 0 # up".split())),
    "p4k": {0x00: "pickup", 0x01: "3", 0x02: "6", 0x03: "9", 0x04: "#", 0x05: "menu", 0x10: "out", 0x11: "2",
            0x12: "5", 0x13: "8", 0x14: "0", 0x15: "flash", 0x20: "speaker", 0x21: "1", 0x22: "4", 0x23: "7",
            0x24: "*", 0x25: "pickup", 0x30: "down", 0x31: "vol_up", 0x32: "up", 0x33: "clear", 0x34: "in",
            0x40: "vol_down", 0x44: "redial"},
    "b3g": {**{d: str(d) for d in range(10)}, 0x0B: "*", 0x0C: "#"},
}


@pytest.mark.parametrize("model", sorted(SECTION_2_6))
def test_every_scan_code_of_every_model(model: str) -> None:
    table = SECTION_2_6[model]
    acts: dict[float, object] = {}
    for i, code in enumerate(table):
        acts[0.5 + i * 0.8] = lambda s, d, c=code: s.press(c)
        acts[0.9 + i * 0.8] = lambda s, d: s.release()
    events, _, _ = run(model, acts, 1.0 + len(table) * 0.8)
    expected = []
    for name in table.values():
        kind = "key" if len(name) == 1 else "button"
        expected += [f"{kind} {name}", f"{kind}_up {name}"]
    assert [e for e in events if not e.startswith("hook")] == expected


def test_a_profile_naming_the_p1kh_gets_g2_packets() -> None:
    d = driver(model="p1kh")
    assert d.gen == 2 and {len(o.data) for o in d.encode(cmd("lcd", "42"))} == {yp.G2_LEN}

"""CM109 phones: buzzer bytes, keypad scanning against the simulator for all four keymaps of the shipped profile,
volume/mute bits, ring cadence, the real DeviceRunner, and a new keymap added by a profile only."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from usbphone.drivers.cm109 import CM109Driver
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.simulators.cm109 import CM109Simulator
from usbphone.hid.simulators.recording import VirtualClock, pump
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo, ProfileError

DEV = DeviceInfo(vid=0x0D8C, pid=0x000E, name="CM109 test")


def driver(pid: int = 0x000E, **options: object) -> CM109Driver:
    prof = profile_by_id("cm109-usb-phone")
    opts = {**prof.options, **options}
    CM109Driver.validate_options(opts, "test")
    return CM109Driver(dataclasses.replace(prof, options=opts), dataclasses.replace(DEV, pid=pid))


def cmd(*words: str) -> HandsetCommand:
    return HandsetCommand.parse(list(words))


def test_buzzer_bit_on_and_off() -> None:
    d = driver()
    on = d.encode(cmd("ring", "on"))
    assert [(o.data.hex(" "), o.transport) for o in on] == [("20 0f 0f 00", "control")]
    assert on[0].data[0] & 0xC0 == 0  # OR0 bits 7-6 = 00: GPO mapping (§3.2)
    off = d.encode(cmd("ring", "off"))
    assert [o.data.hex(" ") for o in off] == ["00 0f 0f 00"]
    assert d.encode(cmd("led", "mute", "on")) == [] and d.encode(cmd("lcd", "123")) == []


def test_keymap_default_per_pid_and_profile_choice() -> None:
    assert driver().keymap_name == "kip1000"
    assert driver(pid=0xB213).keymap_name == "kip1000"
    assert driver(keymap="atcom").keymap_name == "atcom"
    assert driver(keymap="gtalk").keymap[0x18] == "button pickup"


@pytest.mark.parametrize("keymap", ["kip1000", "gtalk", "usbph01", "atcom"])
def test_every_key_of_every_keymap_is_scanned(keymap: str) -> None:
    d = driver(keymap=keymap)
    sim = CM109Simulator()
    clock = VirtualClock()
    table = sorted(d.keymap.items())
    assert len(table) == 16
    acts = {}
    for i, (code, _) in enumerate(table):
        acts[round(0.2 + 0.3 * i, 3)] = (lambda c=code: sim.press(c))
        acts[round(0.35 + 0.3 * i, 3)] = sim.release
    events = pump(d, sim, clock, 0.3 * len(table) + 0.5, actions=acts)
    want = []
    for _, word in table:
        kind, value = word.split(" ")
        want += [word, f"{kind}_up {value}"]
    assert [str(e) for e in events] == want
    # every scan drove the four columns one at a time, then went back to 0x0F (§3.3)
    cols = [w[1] for w in sim.writes]
    assert cols[:1] == [0x0F] and cols[1:6] == [0x01, 0x02, 0x04, 0x08, 0x0F]
    assert all(w[1] == w[2] for w in sim.writes)


def test_volume_and_mute_bits() -> None:
    d = driver()
    sim = CM109Simulator()
    clock = VirtualClock()
    acts = {0.1: lambda: sim.set_buttons(0x01), 0.2: lambda: sim.set_buttons(0x00),
            0.3: lambda: sim.set_buttons(0x02), 0.4: lambda: sim.set_buttons(0x00),
            0.5: lambda: sim.set_buttons(0x08), 0.6: lambda: sim.set_buttons(0x00),
            0.7: lambda: sim.set_buttons(0x04)}
    events = [str(e) for e in pump(d, sim, clock, 1.0, actions=acts)]
    assert events == ["button vol_up", "button_up vol_up", "button vol_down", "button_up vol_down",
                      "button mute", "button mute"]  # mic mute is a state: each change is one press


def test_ring_cadence_switches_the_buzzer() -> None:
    d = driver()
    sim = CM109Simulator()
    clock = VirtualClock()
    acts = {0.2: lambda: d.encode(cmd("ring", "on", "short")), 2.25: lambda: d.encode(cmd("ring", "off"))}
    pump(d, sim, clock, 2.5, actions=acts)
    # "short" = 0.5 s on / 0.5 s off (cadence.py): on at 0.2 (encode), off 0.7, on 1.2, off 1.7, on 2.2, off 2.25
    assert sim.buzzer_changes == [True, False, True, False, True, False]
    assert all(w[0] & 0xDF == 0 for w in sim.writes)  # only the buzzer bit is ever set in OR0


def test_stuck_key_and_bad_reports(caplog: pytest.LogCaptureFixture) -> None:
    d = driver()
    d.decode(bytes([0, 0x0F, 0, 0]), 0.0)
    d.decode(bytes([0, 0x2F, 0, 0]), 0.1)
    assert [str(e) for e in d.decode(bytes([0, 0x22, 0, 0]), 0.2)] == ["key 5"]
    with caplog.at_level("WARNING"):
        assert [str(e) for e in d.tick(40.0)] == ["key_up 5"]
    assert "key 5 held for 40 s" in caplog.text  # released with a warning
    assert d.decode(b"\x00\x0f", 41.0) == [] and d.stats["bad_length"] == 1


def test_new_keymap_by_profile_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from usbphone.hid.open import select_driver
    from usbphone.profiles.loader import load_profiles

    local = tmp_path / "cm109-myphone"
    local.mkdir()
    (local / "profile.toml").write_text(
        '[device]\nname = "My CM109 phone"\ndriver = "cm109"\ntransport = "pyusb"\n'
        '[[match]]\nvid = 0x0d8c\npid = 0x000e\nname = "My*"\n[options]\nkeymap = "mine"\n'
        '[options.keymaps.mine]\n"0x11" = "button redial"\n"0x22" = "key A"\n'
    )
    monkeypatch.setenv("USBPHONE_DEVICES", str(tmp_path))
    prof, d = select_driver(DeviceInfo(vid=0x0D8C, pid=0x000E, name="My phone"), None, load_profiles())
    assert prof is not None and prof.id == "cm109-myphone"
    d.decode(bytes([0, 0x0F, 0, 0]), 0.0)
    d.decode(bytes([0, 0x1F, 0, 0]), 0.1)
    assert [str(e) for e in d.decode(bytes([0, 0x11, 0, 0]), 0.2)] == ["button redial"]
    with pytest.raises(ProfileError, match="not defined"):
        CM109Driver.validate_options({"keymap": "nope", "keymaps": {}}, "p")
    with pytest.raises(ProfileError, match="keymaps.x.0x11"):
        CM109Driver.validate_options({"keymaps": {"x": {"0x11": "key 77"}}}, "p")


def test_device_runner_with_simulator() -> None:
    sim = CM109Simulator()
    d = driver()
    events: list[HandsetEvent] = []
    lock = threading.Lock()

    def emit(e: HandsetEvent) -> None:
        with lock:
            events.append(e)

    def seen() -> list[str]:
        with lock:
            return [str(e) for e in events]

    def wait_for(word: str) -> bool:
        end = time.monotonic() + 5.0
        while time.monotonic() < end and word not in seen():
            time.sleep(0.01)
        return word in seen()

    runner = DeviceRunner(d, sim, emit, name="sim-cm109")
    runner.start()
    try:
        time.sleep(0.1)
        sim.press(0x88)
        assert wait_for("button pickup"), seen()
        sim.release()
        assert wait_for("button_up pickup"), seen()
        sim.press(0x82)
        assert wait_for("key 0"), seen()
        sim.release()
        assert wait_for("key_up 0"), seen()
        runner.send(cmd("ring", "on"))
        assert sim.buzzer
        runner.send(cmd("ring", "off"))
        assert not sim.buzzer
    finally:
        runner.stop()
    assert not runner.error

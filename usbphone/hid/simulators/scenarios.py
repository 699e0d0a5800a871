"""Scripted conversations with the simulators: the source of the committed vendor-handset traces.

Each scenario runs the real driver against a simulator on a virtual clock (``recording.pump``), records
both directions (``E:`` device reports, ``# O:`` host writes) and returns the trace with the events the
live loop produced. The traces are SYNTHETIC (made from the documented protocol, not captured from
hardware) and say so in their header. ``python -m usbphone.hid.simulators.scenarios DEVICES_DIR`` rewrites
them; tests check the committed files are current and that replaying them gives the golden events.

Edit this module to add a scenario (then regenerate).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from usbphone.drivers.base import Driver
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.simulators.cm109 import CM109Simulator
from usbphone.hid.simulators.recording import RecordingTransport, VirtualClock, pump
from usbphone.hid.simulators.yealink import YealinkSimulator
from usbphone.hid.trace import Trace, TraceReport
from usbphone.hid.transport import Transport
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo

Actions = dict[float, Callable[[], object]]
YEALINK = (0x6993, 0xB001, "yealink-usb-p1k", "Yealink USB-P1K family (simulated)")
CM109 = (0x0D8C, 0x000E, "cm109-usb-phone", "C-Media CM109 USB phone (simulated)")


def _run(ids: tuple[int, int, str, str], sim: Transport, actions: Actions, until: float, note: str,
         setup: Callable[[Driver], None] | None = None) -> tuple[Trace, list[HandsetEvent]]:
    vid, pid, profile_id, name = ids
    profile = profile_by_id(profile_id)
    from usbphone.drivers import driver_class

    dev = DeviceInfo(vid=vid, pid=pid, name=name, phys="usb-sim-1/input3", interface=3)
    driver = driver_class(profile.driver)(profile, dev)
    if setup:
        setup(driver)
    clock = VirtualClock()
    trace = Trace(name=name, phys="usb-sim-1/input3", bus=3, vid=vid, pid=pid,
                  comments=[f"SYNTHETIC: {note}", "made by usbphone.hid.simulators.scenarios from the documented "
                            "protocol (../shared/protocols/usb-phone-protocols.md); not a hardware capture"])
    rec = RecordingTransport(sim, clock, trace)
    events = pump(driver, rec, clock, until, actions={k: _bind(v, driver) for k, v in actions.items()})
    return trace, events


def _bind(action: Callable[..., object], driver: Driver) -> Callable[[], object]:
    if getattr(action, "wants_driver", False):
        return lambda: action(driver)
    return action


def command(*words: str) -> Callable[[Driver], object]:
    """An action that sends a HandsetCommand through the driver (its writes go to the device)."""

    def act(driver: Driver) -> object:
        return driver.encode(HandsetCommand.parse(list(words)))

    act.wants_driver = True  # type: ignore[attr-defined]
    return act


def _keys(sim: YealinkSimulator | CM109Simulator, start: float, codes: list[int], hold: float = 0.15,
          gap: float = 0.25) -> Actions:
    acts: Actions = {}
    t = start
    for code in codes:
        acts[round(t, 3)] = (lambda c=code: sim.press(c))
        acts[round(t + hold, 3)] = sim.release
        t += hold + gap
    return acts


def yealink_p1k_dial() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("p1k")
    acts = _keys(sim, 0.5, [0x03, 0x11, 0x11, 0x11, 0x00, 0x01, 0x32])  # pickup 5 5 5 1 2 #
    acts[1.2] = lambda: setattr(sim, "corrupt_replies", 1)  # one reply with a bad checksum: dropped, re-polled
    acts[3.6] = command("lcd", "555123")
    acts[3.7] = command("ring", "on")
    acts[3.9] = command("ring", "off")
    acts.update(_keys(sim, 4.0, [0x13]))  # hangup
    return _run(YEALINK, sim, acts, 4.8, "Yealink USB-P1K: pickup, dial 555 12 #, LCD text, ring on/off, hangup")


def yealink_p4k_hook() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("p4k")
    acts: Actions = {0.5: lambda: sim.set_hook(True)}
    acts.update(_keys(sim, 0.9, [0x21, 0x11, 0x44]))  # 1 2 REDIAL
    acts[2.4] = lambda: sim.set_hook(False)
    return _run(YEALINK, sim, acts, 2.8, "Yealink USB-P4K: lift the handset (HOOKPRESS), 1 2 redial, hang up")


def yealink_b2k_hook() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("b2k")
    acts: Actions = {0.4: lambda: sim.set_pstn_ringing(True), 0.8: lambda: sim.set_pstn_ringing(False),
                     1.0: lambda: sim.set_hook(True)}
    acts.update(_keys(sim, 1.4, [0x00, 0x0B, 0x0C]))  # 0 * #
    acts[2.8] = command("ring", "on")
    acts[2.9] = command("ring", "off")
    acts[3.0] = lambda: sim.set_hook(False)
    return _run(YEALINK, sim, acts, 3.4, "Yealink USB-B2K: PSTN rings, lift (HANDSET 0x8D), 0 * #, hang up")


def yealink_b3g_hook() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("b3g")
    acts: Actions = {0.5: lambda: sim.set_hook(True)}
    acts.update(_keys(sim, 0.8, [0x09]))
    acts[1.6] = lambda: sim.set_hook(False)
    return _run(YEALINK, sim, acts, 2.0, "Yealink USB-B3G: hook and keys from the KEYPRESS reply, 9")


def yealink_p1kh_keys() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("p1kh")
    acts = _keys(sim, 0.6, [0x03, 0x06, 0x11, 0x08])  # pickup 5 # hangup
    acts[2.5] = command("lcd", "42")
    return _run(YEALINK, sim, acts, 2.8, "Yealink USB-P1KH (8-byte packets): pickup 5 # hangup, LCD text",
                setup=lambda d: d.set_packet_size(8))  # type: ignore[attr-defined]


def cm109_dial() -> tuple[Trace, list[HandsetEvent]]:
    sim = CM109Simulator()
    acts = _keys(sim, 0.3, [0x88, 0x14, 0x12, 0x11, 0x48])  # KIP1000: pickup 1 2 3 hangup
    acts[2.5] = lambda: sim.set_buttons(0x01)  # volume up pressed
    acts[2.6] = lambda: sim.set_buttons(0x00)
    acts[2.7] = lambda: sim.set_buttons(0x08)  # mic mute state on
    acts[2.8] = command("ring", "on", "short")
    acts[4.0] = command("ring", "off")
    return _run(CM109, sim, acts, 4.2, "CM109 phone, KIP1000 keymap: pickup 1 2 3 hangup, vol up, mute, buzzer")


# -- desk-phone flows for `usbphone run --replay` (tests/test_run_vendor_flows.py) ----------------------------
# The SIP side (who calls, when) happens at run time: these traces hold only what the person does, at times
# the tests line their peers up with. Scan codes: yealink_keys.py (§2.6) and the KIP1000 keymap (§3.4).
P4K_DIGITS = {"1": 0x21, "2": 0x11, "3": 0x01, "4": 0x22, "5": 0x12, "6": 0x02, "7": 0x23, "8": 0x13,
              "9": 0x03, "*": 0x24, "0": 0x14, "#": 0x04}
P4K_FLASH, P4K_REDIAL = 0x15, 0x44
KIP1000 = {"1": 0x14, "2": 0x12, "3": 0x11, "4": 0x24, "5": 0x22, "6": 0x21, "7": 0x44, "8": 0x42, "9": 0x41,
           "*": 0x84, "0": 0x82, "#": 0x81}
KIP1000_PICKUP, KIP1000_HANGUP = 0x88, 0x48
P1K_PICKUP, P1K_HANGUP = 0x03, 0x13


def yealink_p1k_incoming() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("p1k")
    acts = {**_keys(sim, 3.0, [P1K_PICKUP]), **_keys(sim, 9.0, [P1K_HANGUP])}
    return _run(YEALINK, sim, acts, 10.0, "Yealink USB-P1K: idle (a call rings), pickup at 3 s, hangup at 9 s")


def yealink_b2k_incoming() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("b2k")
    acts: Actions = {3.0: lambda: sim.set_hook(True), 9.0: lambda: sim.set_hook(False)}
    return _run(YEALINK, sim, acts, 10.0, "Yealink USB-B2K: idle (a call rings), lift at 3 s (HANDSET 0x8D), "
                "hang up at 9 s")


def yealink_p4k_call_waiting() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("p4k")
    acts: Actions = {0.5: lambda: sim.set_hook(True), 9.0: lambda: sim.set_hook(False),
                     10.5: lambda: sim.set_hook(True), 12.0: lambda: sim.set_hook(False)}
    acts.update(_keys(sim, 1.0, [P4K_DIGITS[d] for d in "600#"]))
    acts.update(_keys(sim, 5.0, [P4K_FLASH]))  # answer the waiting call
    acts.update(_keys(sim, 7.0, [P4K_FLASH]))  # swap back
    return _run(YEALINK, sim, acts, 12.5, "Yealink USB-P4K: lift, 600#, FLASH at 5 s and 7 s, hang up at 9 s, "
                "lift at 10.5 s (the held call rang back), hang up at 12 s")


def yealink_p4k_redial_hold_dnd() -> tuple[Trace, list[HandsetEvent]]:
    sim = YealinkSimulator("p4k")
    acts: Actions = {0.5: lambda: sim.set_hook(True), 7.0: lambda: sim.set_hook(False),
                     8.0: lambda: sim.set_hook(True), 11.0: lambda: sim.set_hook(False),
                     12.0: lambda: sim.set_hook(True), 14.0: lambda: sim.set_hook(False)}
    acts.update(_keys(sim, 1.0, [P4K_DIGITS[d] for d in "600#"]))
    acts.update(_keys(sim, 4.0, [P4K_FLASH]))  # hold
    acts.update(_keys(sim, 5.5, [P4K_FLASH]))  # resume
    acts.update(_keys(sim, 8.5, [P4K_REDIAL]))
    acts.update(_keys(sim, 12.5, [P4K_DIGITS[d] for d in "*78"]))  # DND on (feature code)
    return _run(YEALINK, sim, acts, 20.0, "Yealink USB-P4K: lift, 600#, FLASH hold at 4 s, FLASH resume at 5.5 s, "
                "hang up; lift, REDIAL, hang up at 11 s; lift, *78 (DND on), hang up at 14 s; idle to 20 s")


def cm109_incoming() -> tuple[Trace, list[HandsetEvent]]:
    sim = CM109Simulator()
    acts = {**_keys(sim, 3.0, [KIP1000_PICKUP]), **_keys(sim, 9.0, [KIP1000_HANGUP])}
    return _run(CM109, sim, acts, 10.0, "CM109 phone, KIP1000 keymap: idle (a call rings), pickup at 3 s, "
                "hangup at 9 s")


def cm109_call_waiting() -> tuple[Trace, list[HandsetEvent]]:
    sim = CM109Simulator()
    acts = {**_keys(sim, 0.3, [KIP1000_PICKUP]), **_keys(sim, 0.8, [KIP1000[d] for d in "600#"])}
    acts.update(_keys(sim, 5.0, [KIP1000_PICKUP]))  # no flash key: pickup answers the waiting call
    acts.update(_keys(sim, 7.0, [KIP1000_HANGUP]))  # ends it: the first call stays held
    acts.update(_keys(sim, 8.0, [KIP1000_PICKUP]))  # takes the held call back
    acts.update(_keys(sim, 10.0, [KIP1000_HANGUP]))
    return _run(CM109, sim, acts, 10.5, "CM109 phone, KIP1000 keymap: pickup, 600#, pickup at 5 s, hangup at 7 s, "
                "pickup at 8 s, hangup at 10 s")


def cm109_redial_dnd() -> tuple[Trace, list[HandsetEvent]]:
    sim = CM109Simulator()
    acts = {**_keys(sim, 0.3, [KIP1000_PICKUP]), **_keys(sim, 0.8, [KIP1000[d] for d in "600#"])}
    acts.update(_keys(sim, 3.5, [KIP1000_HANGUP]))
    acts.update(_keys(sim, 4.5, [KIP1000_PICKUP, KIP1000["*"], KIP1000["0"]]))  # *0 = redial (feature code)
    acts.update(_keys(sim, 8.0, [KIP1000_HANGUP]))
    acts.update(_keys(sim, 9.0, [KIP1000_PICKUP, *(KIP1000[d] for d in "*78")]))  # DND on (feature code)
    acts.update(_keys(sim, 11.0, [KIP1000_HANGUP]))
    return _run(CM109, sim, acts, 17.0, "CM109 phone, KIP1000 keymap: pickup, 600#, hangup; pickup, *0 (redial), "
                "hangup at 8 s; pickup, *78 (DND on), hangup at 11 s; idle to 17 s")


def hp_call() -> tuple[Trace, list[HandsetEvent]]:
    """The HP handset reports by itself: the trace is its captured codes at times of our choosing."""
    from usbphone.drivers import driver_class

    profile = profile_by_id("hp-internet-handset")
    driver = driver_class(profile.driver)(profile, DeviceInfo(vid=0x03F0, pid=0x1C07, name="HP Internet Handset"))
    codes = [0x41, 0x17, 0x15, 0x17, 0x15, 0x07, 0x05, 0x33, 0x31, 0x47, 0x45, 0x43, 0x41, 0x40]
    trace = Trace(name="Hewlett-Packard HP Internet Handset", phys="usb-sim-2/input3", bus=3, vid=0x03F0,
                  pid=0x1C07, comments=["SYNTHETIC: HP Internet Handset: lift, 5 5 1 #, mute, red hangup, cradle",
                                        "the codes are the captured ones (../shared/hid-data/raw/hp_internet-"
                                        "handset_03f0-1c07.key-reports-and-lsusb.txt); sequence and times are ours"])
    events: list[HandsetEvent] = []
    for i, code in enumerate(codes):
        report = bytes([0x00, code])
        t = round(0.5 + 0.2 * i, 6)
        trace.reports.append(TraceReport(t, report, "in"))
        events += driver.decode(report, t)
    return trace, events


def _direct(profile_id: str, ids: tuple[int, int, str, str], reports: list[tuple[float, bytes, str]],
            note: list[str]) -> tuple[Trace, list[HandsetEvent]]:
    """A trace of a device that reports by itself: ("in"|"out", bytes) at times; events from its driver."""
    from usbphone.drivers import driver_class

    vid, pid, name, phys = ids
    profile = profile_by_id(profile_id)
    driver = driver_class(profile.driver)(profile, DeviceInfo(vid=vid, pid=pid, name=name, phys=phys))
    trace = Trace(name=name, phys=phys, bus=3, vid=vid, pid=pid, comments=note)
    events: list[HandsetEvent] = []
    for t, data, direction in reports:
        trace.reports.append(TraceReport(round(t, 6), data, direction, "serial" if direction == "out" else ""))
        if direction == "in":
            events += driver.decode(data, round(t, 6))
    return trace, events


def serial_line_call() -> tuple[Trace, list[HandsetEvent]]:
    rx = ["HOOK ON", "HOOK OFF", "DIAL 5", "DIAL 5", "KEY 1", "KEYUP 1", "BUTTON FLASH", "?? noise 17", "HOOK ON"]
    reports = [(0.2 + 0.3 * i, line.encode(), "in") for i, line in enumerate(rx)]
    reports.insert(1, (0.25, b"RING ON\n", "out"))
    reports.insert(2, (0.45, b"RING OFF\n", "out"))
    reports.insert(6, (1.45, b"LCD 551\n", "out"))
    return _direct("serial-line-phone", (0x1209, 0x0001, "usbphone line phone", "usb-sim-3/tty"), reports,
                   ["SYNTHETIC: serial line phone: rings, lifted, dials 5 5 1 (key 1 released), flash, noise, "
                    "hangs up", "E: = one received line without its line ending; # O: = a command written"])


def serial_rotary_dial() -> tuple[Trace, list[HandsetEvent]]:
    hook, cts = 0x04, 0x01  # DCD = hook loop closed (off hook), CTS = recall button
    changes: list[tuple[float, int]] = [(0.0, 0), (0.5, hook), (1.500, 0), (1.503, hook)]  # lift; a 3 ms bounce

    def dial(start: float, digit: int) -> float:
        t = start
        for _ in range(digit or 10):  # 10 pulses/s: 60 ms break, 40 ms make
            changes.extend([(round(t, 3), 0), (round(t + 0.06, 3), hook)])
            t += 0.1
        return t

    dial(1.0, 3)
    dial(dial(2.0, 0) + 0.7, 7)
    changes += [(5.0, 0), (5.3, hook)]  # a 300 ms break: hook flash
    changes += [(5.7, hook | cts), (5.9, hook)]  # recall button
    changes += [(6.4, 0)]  # hang up (the break goes on)
    changes.sort()
    reports: list[tuple[float, bytes, str]] = []
    level, t, i = 0, 0.0, 0
    while t <= 7.4:  # the transport reports on change and every 250 ms
        nxt = changes[i][0] if i < len(changes) else 99.0
        if nxt <= t + 0.25:
            level, t = changes[i][1], nxt
            i += 1
        else:
            t = round(t + 0.25, 3)
        reports.append((t, bytes([level]), "in"))
    return _direct("serial-rotary-hook", (0x0403, 0x6001, "FTDI usbphone hook", "usb-sim-4/tty"), reports,
                   ["SYNTHETIC: hook switch + rotary dial on DCD, recall button on CTS: lift, a contact bounce, "
                    "dial 3 0 7, hook flash, recall, hang up", "E: = one byte of line levels: bit 0 CTS, 1 DSR, "
                    "2 DCD, 3 RI (reported on change and every 250 ms)"])


SCENARIOS: dict[str, tuple[str, Callable[[], tuple[Trace, list[HandsetEvent]]]]] = {
    "yealink-usb-p1k/traces/p1k-dial": ("yealink", yealink_p1k_dial),
    "yealink-usb-p1k/traces/p4k-hook": ("yealink", yealink_p4k_hook),
    "yealink-usb-p1k/traces/b2k-hook": ("yealink", yealink_b2k_hook),
    "yealink-usb-p1k/traces/b3g-hook": ("yealink", yealink_b3g_hook),
    "yealink-usb-p1k/traces/p1kh-keys": ("yealink", yealink_p1kh_keys),
    "yealink-usb-p1k/traces/p1k-incoming": ("yealink", yealink_p1k_incoming),
    "yealink-usb-p1k/traces/b2k-incoming": ("yealink", yealink_b2k_incoming),
    "yealink-usb-p1k/traces/p4k-call-waiting": ("yealink", yealink_p4k_call_waiting),
    "yealink-usb-p1k/traces/p4k-redial-hold-dnd": ("yealink", yealink_p4k_redial_hold_dnd),
    "cm109-usb-phone/traces/kip1000-dial": ("cm109", cm109_dial),
    "cm109-usb-phone/traces/kip1000-incoming": ("cm109", cm109_incoming),
    "cm109-usb-phone/traces/kip1000-call-waiting": ("cm109", cm109_call_waiting),
    "cm109-usb-phone/traces/kip1000-redial-dnd": ("cm109", cm109_redial_dnd),
    "hp-internet-handset/traces/handset-call": ("hid_table", hp_call),
    "serial-line-phone/traces/line-phone-call": ("serial_lines", serial_line_call),
    "serial-rotary-hook/traces/rotary-dial": ("serial_modem", serial_rotary_dial),
}


def events_text(name: str, events: list[HandsetEvent]) -> str:
    lines = [f"# golden events for {name}.hid (one 'kind value' per line)"] + [str(e) for e in events]
    return "\n".join(lines) + "\n"


def write_all(devices: Path) -> list[Path]:
    written = []
    for rel, (_, make) in SCENARIOS.items():
        trace, events = make()
        base = devices / rel
        base.parent.mkdir(parents=True, exist_ok=True)
        trace.save(base.with_suffix(".hid"))
        base.with_suffix(".events").write_text(events_text(base.name, events))
        written.append(base.with_suffix(".hid"))
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "devices")):
        print(path)

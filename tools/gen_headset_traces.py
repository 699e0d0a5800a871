#!/usr/bin/env python3
"""Write the project's own headset traces (devices/*/traces/*.hid) and their golden .events files.

Each device below is a report descriptor the project wrote from the layout facts in
../shared/protocols/usb-phone-protocols.md §4.2/§4.5/§3.2 (no bytes copied from ../shared/hid-data), plus
scenarios: a list of (time, report, expected event lines). The expected events are written by hand here from
what the bits mean, never produced by the decoder, so tests/test_replay_traces.py checks the decoder against
them. These traces are synthetic (no hardware recording of a telephony headset exists, §0); their first
comment line says so.

Usage: tools/gen_headset_traces.py [DEVICES_DIR]     (default: devices/ beside this tool)
Edit this file to add a layout or a scenario, then re-run it and commit the files it writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from usbphone.hid.rdesc_builder import APPLICATION, ARRAY, LOGICAL, NOPREF, REL, VAR, Rdesc  # noqa: E402
from usbphone.hid.trace import Trace, TraceReport  # noqa: E402

TEL, LED, CONSUMER, BUTTON = 0x0B, 0x08, 0x0C, 0x09


def report(rid: int, nbytes: int, bits: dict[int | tuple[int, int], int]) -> bytes:
    """``nbytes`` bytes after the id byte (no id byte when rid is 0); bit 0 = first bit of the report-id byte."""
    buf = bytearray(([rid] if rid else []) + [0] * nbytes)
    for key, value in bits.items():
        off, width = (key, 1) if isinstance(key, int) else key
        for i in range(width):
            if value >> i & 1:
                buf[(off + i) // 8] |= 1 << ((off + i) % 8)
    return bytes(buf)


# --- GN/Jabra style: one input report and one output report, many bits each (§4.2 "GN-style") -------------
def gn_descriptor() -> bytes:
    d = Rdesc().page(TEL).usage(0x05).collection(APPLICATION).report_id(2)
    d.bits("input", [0x20, 0x97], VAR | NOPREF)  # b0 Hook Switch, b1 Line Busy Tone
    d.bits("input", [0x2F, 0x21, 0x24, 0x50], VAR | REL)  # b2 Phone Mute, b3 Flash, b4 Redial, b5 Speed Dial
    d.page(BUTTON).bits("input", [0x07], VAR)  # b6 "Button 7" (GN declares Programmable Button this way)
    d.page(TEL).usage(0x06).collection(LOGICAL)  # Telephony Key Pad: 4-bit array, logical 0..11 = 0xB0..0xBB
    d.logical(0, 11).size(4).count(1).usage_range(0xB0, 0xBB).input(ARRAY).end()
    d.pad("input", 5)
    d.page(LED).bits("output", [0x17, 0x09, 0x18, 0x20, 0x21], VAR | NOPREF)  # Off-Hook Mute Ring Hold Mic
    d.page(TEL).bits("output", [0x9E], VAR | NOPREF)  # Ringer
    d.pad("output", 10).end()
    d.page(CONSUMER).usage(0x01).collection(APPLICATION).report_id(1)
    d.bits("input", [0xE9, 0xEA], VAR).pad("input", 6).end()
    return d.bytes()


def gn_in(hook: int = 0, mute: int = 0, flash: int = 0, redial: int = 0, key: int = 12) -> bytes:
    return report(2, 2, {8: hook, 10: mute, 11: flash, 12: redial, (15, 4): key})


def gn_call() -> list[tuple[float, bytes, list[str]]]:
    return [
        (0.0, gn_in(), []),  # first report: state, silently (keypad 12 is out of range: no key)
        (0.0, report(1, 1, {}), []),
        (0.5, gn_in(hook=1), ["hook off"]),
        (0.6, gn_in(hook=1), []),  # repeated identical report: nothing
        (1.0, gn_in(hook=1, key=1), ["key 1"]),
        (1.2, gn_in(hook=1), ["key_up 1"]),
        (1.5, gn_in(hook=1, key=11), ["key #"]),
        (1.7, gn_in(hook=1, key=15), ["key_up #"]),  # 15 > logical max: "no key"
        (2.0, gn_in(hook=1, mute=1), ["button mute"]),  # relative: one press, no release
        (2.1, gn_in(hook=1), []),
        (2.5, report(1, 1, {8: 1}), ["button vol_up"]),
        (2.6, report(1, 1, {}), ["button_up vol_up"]),
        (3.0, gn_in(hook=1, flash=1), ["button flash"]),
        (3.1, gn_in(hook=1), []),
        (4.0, gn_in(), ["hook on"]),
    ]


def gn_lifted() -> list[tuple[float, bytes, list[str]]]:
    return [
        (0.0, gn_in(hook=1), ["hook off"]),  # a device starts on hook: lifted at start is reported
        (0.5, gn_in(hook=1, key=5), ["key 5"]),
        (0.7, gn_in(hook=1), ["key_up 5"]),
        (1.0, gn_in(hook=1, redial=1), ["button redial"]),
        (1.1, gn_in(hook=1), []),
        (2.0, gn_in(), ["hook on"]),
    ]


# --- Plantronics/Poly style: one output report per LED (§4.2 "Plantronics/Poly") ---------------------------
def poly_descriptor() -> bytes:
    d = Rdesc().page(TEL).usage(0x05).collection(APPLICATION).report_id(8)
    d.bits("input", [0x2F], VAR | REL)  # b0 Phone Mute (relative)
    d.bits("input", [0x20], VAR | NOPREF)  # b1 Hook Switch
    d.bits("input", [0x21], VAR)  # b2 Flash (absolute on 5220-class devices)
    d.bits("input", [0x24], VAR | REL)  # b3 Redial
    d.pad("input", 4).page(LED)
    for rid, usage in ((0x09, 0x09), (0x17, 0x17), (0x18, 0x18), (0x1E, 0x1E), (0x20, 0x20), (0x2A, 0x2A)):
        d.report_id(rid).bits("output", [usage], VAR | NOPREF).pad("output", 7)
    d.end()
    return d.bytes()


def poly_in(mute: int = 0, hook: int = 0, flash: int = 0, redial: int = 0) -> bytes:
    return report(8, 1, {8: mute, 9: hook, 10: flash, 11: redial})


def poly_call() -> list[tuple[float, bytes, list[str]]]:
    return [
        (0.0, poly_in(), []),
        (0.5, poly_in(hook=1), ["hook off"]),
        (1.0, poly_in(hook=1, mute=1), ["button mute"]),
        (1.01, poly_in(hook=1), []),
        (1.03, poly_in(hook=1, mute=1), []),  # the duplicate press Poly sends within ~50 ms (quirk)
        (1.04, poly_in(hook=1), []),
        (2.0, poly_in(hook=1, mute=1), ["button mute"]),  # a real second press
        (2.1, poly_in(hook=1), []),
        (2.5, poly_in(hook=1, flash=1), ["button flash"]),  # absolute: press and release
        (2.7, poly_in(hook=1), ["button_up flash"]),
        (3.0, poly_in(hook=1, redial=1), ["button redial"]),
        (3.1, poly_in(hook=1), []),
        (4.0, poly_in(), ["hook on"]),
    ]


# --- EPOS/Sennheiser style: nested Application collections, volume inside telephony, one multi-bit output ---
def epos_descriptor() -> bytes:
    d = Rdesc().page(TEL).usage(0x05).collection(APPLICATION).report_id(2)
    d.page(CONSUMER).bits("input", [0xEA, 0xE9], VAR)  # b0 Volume Down, b1 Volume Up (inside telephony)
    d.page(TEL).bits("input", [0x20], VAR | NOPREF)  # b2 Hook Switch
    d.bits("input", [0x21, 0x24, 0x2F, 0x26], VAR | REL)  # b3 Flash, b4 Redial, b5 Phone Mute, b6 Drop
    d.pad("input", 1).report_id(3)
    d.bits("output", [0x9E], VAR | NOPREF)  # b0 Ringer
    d.page(LED).bits("output", [0x17, 0x21, 0x18, 0x09, 0x2A, 0x20], VAR | NOPREF)  # b1..b6
    d.pad("output", 1)
    d.page(0xFF40).usage(0x01).collection(APPLICATION).report_id(0x40)  # nested vendor application
    d.logical(0, 255).size(8).count(4).usage(0x40).feature(VAR).end()
    d.end()
    return d.bytes()


def epos_in(vdown: int = 0, vup: int = 0, hook: int = 0, flash: int = 0, redial: int = 0, mute: int = 0,
            drop: int = 0) -> bytes:
    return report(2, 1, {8: vdown, 9: vup, 10: hook, 11: flash, 12: redial, 13: mute, 14: drop})


def epos_call() -> list[tuple[float, bytes, list[str]]]:
    return [
        (0.0, epos_in(), []),
        (0.5, epos_in(hook=1), ["hook off"]),
        (1.0, epos_in(hook=1, vdown=1), ["button vol_down"]),
        (1.2, epos_in(hook=1), ["button_up vol_down"]),
        (1.5, epos_in(hook=1, mute=1), ["button mute"]),
        (1.6, epos_in(hook=1), []),
        (2.0, epos_in(hook=1, drop=1), ["button hangup"]),  # Drop
        (2.1, epos_in(hook=1), []),
        (2.5, epos_in(), ["hook on"]),
    ]


# --- no profile: a telephony headset nobody wrote a profile for (report id 3; §4.5 CyberAcoustics bits) -----
def plain_descriptor() -> bytes:
    d = Rdesc().page(TEL).usage(0x05).collection(APPLICATION).report_id(3)
    d.bits("input", [0x20], VAR | NOPREF).pad("input", 1)  # 0x01 hook
    d.bits("input", [0x2F], VAR | REL).pad("input", 5)  # 0x04 mute
    d.page(LED).bits("output", [0x17], VAR).pad("output", 1).bits("output", [0x09, 0x18], VAR).pad("output", 4)
    d.end()
    return d.bytes()


def plain_call() -> list[tuple[float, bytes, list[str]]]:
    return [
        (0.0, bytes([3, 0x00]), []),
        (0.4, bytes([3, 0x01]), ["hook off"]),
        (0.8, bytes([3, 0x05]), ["button mute"]),
        (0.9, bytes([3, 0x01]), []),
        (1.5, bytes([3, 0x00]), ["hook on"]),
    ]


# --- no profile, no report ids, hook switch flagged Relative (a toggle): the CM108-family layout (§3.2) ------
def toggle_descriptor() -> bytes:
    d = Rdesc().page(CONSUMER).usage(0x01).collection(APPLICATION)
    d.bits("input", [0xE9, 0xEA], VAR)  # b0 vol up, b1 vol down
    d.bits("input", [0xE2], VAR | REL)  # b2 consumer Mute
    d.page(TEL).bits("input", [0x2F], VAR)  # b3 Phone Mute (absolute)
    d.bits("input", [0x20], VAR | REL)  # b4 Hook Switch (relative: a toggle pulse)
    d.pad("input", 3).logical(0, 255).size(8).count(3).usage(0x00).input(VAR)
    d.end()
    return d.bytes()


def toggle_call() -> list[tuple[float, bytes, list[str]]]:
    def r(b0: int) -> bytes:
        return bytes([b0, 0, 0, 0])

    return [
        (0.0, r(0x00), []),
        (0.5, r(0x10), ["hook off"]),  # toggle pulse: lifted
        (0.6, r(0x00), []),
        (1.0, r(0x04), []),  # consumer Mute is ignored when Phone Mute exists (often sent together)
        (1.1, r(0x00), []),
        (1.5, r(0x08), ["button mute"]),  # absolute Phone Mute: press and release
        (1.7, r(0x00), ["button_up mute"]),
        (2.0, r(0x01), ["button vol_up"]),
        (2.2, r(0x00), ["button_up vol_up"]),
        (3.0, r(0x10), ["hook on"]),  # second toggle pulse: hung up
        (3.1, r(0x00), []),
    ]


# --- no telephony at all: a gaming headset's consumer controls ----------------------------------------------
def gaming_descriptor() -> bytes:
    d = Rdesc().page(CONSUMER).usage(0x01).collection(APPLICATION).report_id(1)
    d.bits("input", [0xE9, 0xEA, 0xE2], VAR).pad("input", 5).end()
    return d.bytes()


def gaming_call() -> list[tuple[float, bytes, list[str]]]:
    return [
        (0.0, bytes([1, 0]), []),
        (0.5, bytes([1, 1]), ["button vol_up"]),
        (0.6, bytes([1, 0]), ["button_up vol_up"]),
        (1.0, bytes([1, 4]), ["button mute"]),  # no Phone Mute here, so consumer Mute is the mute button
        (1.1, bytes([1, 0]), ["button_up mute"]),
    ]


# pid.codes 1209:0001 is the shared test PID: the no-profile traces use it so no profile ever claims them.
TRACES = [
    ("jabra-gn", "gn-call-keypad", gn_descriptor, 0x0B0E, 0x0307, "GN-style test headset", gn_call,
     "GN/Jabra layout (§4.2): one input and one output report, keypad array"),
    ("jabra-gn", "gn-lifted-at-start", gn_descriptor, 0x0B0E, 0x0307, "GN-style test headset", gn_lifted,
     "GN/Jabra layout: the handset is already off hook when the trace starts"),
    ("poly-blackwire", "poly-call-mute-repeat", poly_descriptor, 0x047F, 0xC056, "Poly-style test headset",
     poly_call, "Plantronics/Poly layout (§4.2): one output report per LED; duplicate mute press (§4.5)"),
    ("epos-sennheiser", "epos-call-drop", epos_descriptor, 0x1395, 0x00A9, "EPOS-style test headset", epos_call,
     "EPOS layout (§4.2): nested Application collections, volume inside telephony, multi-bit output"),
    ("generic", "no-profile-headset", plain_descriptor, 0x1209, 0x0001, "Unprofiled test headset", plain_call,
     "a telephony headset no profile matches: decoded from its descriptor alone"),
    ("generic", "toggle-hook-no-report-id", toggle_descriptor, 0x1209, 0x0001, "CM108-style test handset",
     toggle_call, "no report ids; Hook Switch flagged Relative (a toggle, §3.2)"),
    ("generic", "gaming-headset-no-telephony", gaming_descriptor, 0x1209, 0x0001, "Test gaming headset",
     gaming_call, "no telephony usages at all (consumer controls only)"),
]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "devices"
    for folder, name, descriptor, vid, pid, product, scenario, what in TRACES:
        steps = scenario()
        trace = Trace(
            name=product, phys="usb-0000:00:14.0-3/input3", bus=3, vid=vid, pid=pid, descriptor=descriptor(),
            reports=[TraceReport(t, data) for t, data, _ in steps],
            comments=[f"synthetic trace written by tools/gen_headset_traces.py: {what}",
                      "descriptor written by the project from ../shared/protocols/usb-phone-protocols.md facts"],
        )
        out = root / folder / "traces"
        out.mkdir(parents=True, exist_ok=True)
        trace.save(out / f"{name}.hid")
        lines = [f"# golden events for {name}.hid (one 'kind value' per line)"]
        lines += [e for _, _, expected in steps for e in expected]
        (out / f"{name}.events").write_text("\n".join(lines) + "\n")
        print(out / f"{name}.hid")


if __name__ == "__main__":
    main()

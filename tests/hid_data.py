"""Test helpers: the real descriptors in ../shared/hid-data (read at test time, skipped when absent) and what
the protocol notes say each one contains (../shared/protocols/usb-phone-protocols.md §4.1/§4.2/§3.2).

Edit when ../shared/hid-data gains a descriptor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DESCRIPTORS = SHARED / "hid-data" / "descriptors"
MAKE_TRACES = SHARED / "checks" / "make_traces.py"

ALL_LEDS = {"mute", "off_hook", "ring", "hold"}  # §4.1 LED table: "all 11"
# file -> (LEDs, ringer, keypad): §4.1 "Seen in" columns (Speaker: Plantronics x4; Microphone: Jabra x3,
# SC660, EPOS D1, D/DW, WH66; On-Line: C5220, 3220, SC660, D1, D/DW; Ringer: Jabra x3, EPOS D/DW, WH66;
# keypad 0xB0-0xBB: Evolve Link, BIZ 2400 II, WH66). HS-100B: hook + mute only, no LED outputs (§3.2).
TELEPHONY = {
    "jabra_evolve-link-ms_0b0e-0307.rdesc.bin": (ALL_LEDS | {"microphone"}, True, True),
    "jabra_biz-2400-ii_0b0e-2453.rdesc.bin": (ALL_LEDS | {"microphone"}, True, True),
    "jabra_speak-810_0b0e-2456.rdesc.bin": (ALL_LEDS | {"microphone"}, True, False),
    "yealink_wh66_6993-b02b.rdesc.bin": (ALL_LEDS | {"microphone"}, True, True),
    "plantronics_blackwire-c5220_047f-c053.rdesc.bin": (ALL_LEDS | {"speaker", "on_line"}, False, False),
    "plantronics_blackwire-3220_047f-c056_if5-telephony.rdesc.bin": (ALL_LEDS | {"speaker", "on_line"}, False, False),
    "plantronics_poly-bt700_047f-02e6.rdesc.bin": (ALL_LEDS | {"speaker"}, False, False),
    "plantronics_poly-voyager-base-cd_047f-02ec.rdesc.bin": (ALL_LEDS | {"speaker"}, False, False),
    "sennheiser_sc660-anc-usb_1395-0082.rdesc.bin": (ALL_LEDS | {"microphone", "on_line"}, False, False),
    "epos_impact-d1_1395-009c.rdesc.bin": (ALL_LEDS | {"microphone", "on_line"}, False, False),
    "epos_impact-d_1395-00a9.rdesc.bin": (ALL_LEDS | {"microphone", "on_line"}, True, False),
    "cmedia_hs-100b_0d8c-0014.kernel-fixed.rdesc.bin": (set(), False, False),
}
NO_TELEPHONY = [
    "logitech_g535-wireless-gaming-headset_046d-0ac4.rdesc.bin",
    "logitech_h540_046d-0a37.rdesc.bin",
    "plantronics_blackwire-3220_047f-c056_if1-consumer.rdesc.bin",
    "plantronics_blackwire-3220_047f-c056_if3-vendor.rdesc.bin",
]


def real_descriptor(name: str) -> bytes:
    path = DESCRIPTORS / name
    if not path.is_file():
        pytest.skip(f"{path} not present (../shared/hid-data is optional)")
    return path.read_bytes()


def ids_from_name(name: str) -> tuple[int, int]:
    """VID/PID from a file name like jabra_evolve-link-ms_0b0e-0307.rdesc.bin."""
    for part in name.split("_"):
        head = part.split(".")[0]
        if len(head) == 9 and head[4] == "-":
            return int(head[:4], 16), int(head[5:], 16)
    raise ValueError(name)

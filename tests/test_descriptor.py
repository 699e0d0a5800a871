"""Report-descriptor parsing: every real descriptor in ../shared/hid-data, plus edge cases built with Rdesc."""

from __future__ import annotations

import pytest
from hid_data import NO_TELEPHONY, TELEPHONY, real_descriptor

from usbphone.hid.descriptor import DescriptorError, parse_descriptor, usage_pages
from usbphone.hid.rdesc_builder import APPLICATION, ARRAY, LOGICAL, NOPREF, REL, VAR, Rdesc

LED_IDS = {"mute": 0x09, "off_hook": 0x17, "ring": 0x18, "speaker": 0x1E, "hold": 0x20, "microphone": 0x21,
           "on_line": 0x2A}


@pytest.mark.parametrize("name", sorted(TELEPHONY))
def test_real_telephony_descriptor_has_hook_and_its_leds(name: str) -> None:
    desc = parse_descriptor(real_descriptor(name))
    leds, ringer, keypad = TELEPHONY[name]
    assert 0x0B in desc.usage_pages and desc.has_page(0x0B)
    hooks = desc.find("input", 0x0B, 0x20)
    assert len(hooks) == 1 and hooks[0].size == 1
    found = {n for n, u in LED_IDS.items() if desc.find("output", 0x08, u)}
    assert found == leds
    assert bool(desc.find("output", 0x0B, 0x9E)) == ringer
    arrays = [f for f in desc.fields if f.kind == "input" and f.is_array and 0x0B00B5 in f.usages]
    assert bool(arrays) == keypad


@pytest.mark.parametrize("name", NO_TELEPHONY)
def test_real_descriptor_without_telephony_has_no_hook_or_leds(name: str) -> None:
    desc = parse_descriptor(real_descriptor(name))
    assert not desc.has_page(0x0B)
    assert not desc.find("input", 0x0B, 0x20)
    assert not [f for f in desc.fields if f.usage_page == 0x08]


def test_layout_facts_of_the_families() -> None:
    # §4.2: GN-style input id 2 b0 Hook b1 Line Busy b2 Mute b3 Flash (bit 0 after the id byte = bit 8)
    jabra = parse_descriptor(real_descriptor("jabra_evolve-link-ms_0b0e-0307.rdesc.bin"))
    assert [(f.report_id, f.bit_offset) for f in jabra.find("input", 0x0B, 0x20)] == [(2, 8)]
    assert [f.bit_offset for f in jabra.find("input", 0x0B, 0x2F)] == [10]
    assert jabra.find("input", 0x0B, 0x2F)[0].is_relative and jabra.find("input", 0x0B, 0x20)[0].is_absolute
    # §4.2 Plantronics: one output report per LED (3220: 9 Mute, 0x17 Off-Hook, ... 0x2A On-Line)
    poly = parse_descriptor(real_descriptor("plantronics_blackwire-3220_047f-c056_if5-telephony.rdesc.bin"))
    assert {f.report_id for f in poly.fields if f.kind == "output" and not f.is_constant} == {
        0x09, 0x17, 0x18, 0x1E, 0x20, 0x2A}
    # EPOS: nested Application collections parse, the vendor one inside the headset one
    epos = parse_descriptor(real_descriptor("epos_impact-d1_1395-009c.rdesc.bin"))
    assert epos.applications[0] == 0x0B0005
    assert epos.report("feature", 0x40) is not None  # declared inside the nested vendor collection
    assert epos.report("output", 3) is not None and epos.report("output", 3).size == 2


def test_garbage_raises_descriptor_error() -> None:
    with pytest.raises(DescriptorError):
        parse_descriptor(b"")
    with pytest.raises(DescriptorError):
        parse_descriptor(bytes([0x00, 0x01, 0x02]))  # item type 0 is not an item
    assert usage_pages(bytes([0x00, 0x01])) == frozenset()


def test_unnumbered_report_and_signed_values() -> None:
    d = Rdesc().page(0x01).usage(0x02).collection(APPLICATION)
    d.logical(-127, 127).size(8).count(1).usage(0x30).input(VAR | REL).end()
    desc = parse_descriptor(d.bytes())
    assert not desc.numbered
    (f,) = desc.find("input", 0x01, 0x30)
    assert f.bit_offset == 0 and f.logical_min == -127
    assert f.read(bytes([0xFF])) == -1 and f.read(bytes([0x05])) == 5
    assert f.read(b"") is None
    assert desc.input_report_for(bytes([0x05])) is desc.report("input", 0)


def test_array_out_of_range_is_no_usage() -> None:
    d = Rdesc().page(0x0B).usage(0x05).collection(APPLICATION).report_id(2).usage(0x06).collection(LOGICAL)
    d.logical(1, 12).size(4).count(2).usage_range(0xB0, 0xBB).input(ARRAY).end().end()
    (f,) = [x for x in parse_descriptor(d.bytes()).fields if x.is_array]
    assert f.count == 2 and f.size == 4 and f.bit_offset == 8
    assert f.array_usage(1) == 0x0B00B0 and f.array_usage(12) == 0x0B00BB
    assert f.array_usage(0) is None and f.array_usage(13) is None and f.array_usage(15) is None
    assert f.read(bytes([2, 0x3C]), 0) == 0xC and f.read(bytes([2, 0x3C]), 1) == 3


def test_write_preserves_other_bits() -> None:
    d = Rdesc().page(0x08).usage(0x01).collection(APPLICATION).report_id(3)
    d.bits("output", [0x17, 0x09, 0x18], VAR | NOPREF).logical(0, 3).size(2).count(1).usage(0x20).output(VAR)
    d.pad("output", 3).end()
    desc = parse_descriptor(d.bytes())
    buf = bytearray([3, 0b0000_0101])
    (hold,) = desc.find("output", 0x08, 0x20)
    hold.write(buf, 3)
    assert buf == bytearray([3, 0b0001_1101])
    hold.write(buf, 1)
    assert buf == bytearray([3, 0b0000_1101])
    (mute,) = desc.find("output", 0x08, 0x09)
    mute.write(buf, 1)
    assert buf == bytearray([3, 0b0000_1111])


@pytest.mark.parametrize("raw,what", [
    (bytes([0x97, 0xFF, 0xFF, 0xFF, 0x7F]), "Report Count"),
    (bytes([0x76, 0x00, 0x10]), "Report Size"),
    (bytes([0x19, 0x00, 0x2B, 0xFF, 0xFF, 0xFF, 0x00]), "Usage Minimum/Maximum"),
])
def test_absurd_sizes_are_refused_before_parsing(raw: bytes, what: str) -> None:
    with pytest.raises(DescriptorError, match=what):
        parse_descriptor(raw)


def test_every_real_descriptor_is_classified() -> None:
    """A descriptor added to ../shared/hid-data must be listed in tests/hid_data.py, so none goes untested."""
    from hid_data import DESCRIPTORS

    if not DESCRIPTORS.is_dir():
        pytest.skip(f"{DESCRIPTORS} not present (../shared/hid-data is optional)")
    present = {p.name for p in DESCRIPTORS.glob("*.rdesc.bin")}
    assert present and present == set(TELEPHONY) | set(NO_TELEPHONY)

"""Write HID report descriptors item by item (HID 1.11 §6.2.2 short items), for authoring the project's traces.

The traces committed in devices/ carry descriptors the project wrote itself from the protocol facts
(../shared/protocols/usb-phone-protocols.md §4), never copied bytes; tools/gen_headset_traces.py builds them
with this, and tests use it for parser edge cases. Example::

    d = Rdesc().page(0x0B).usage(0x05).collection(APPLICATION).report_id(2)
    d.logical(0, 1).size(1).count(1).usage(0x20).input(VAR | NOPREF).end()
    d.bytes()

Edit this module only if an item type is missing.
"""

from __future__ import annotations

# Collection types (HID 1.11 §6.2.2.6)
PHYSICAL, APPLICATION, LOGICAL = 0x00, 0x01, 0x02
# Main item data bits (HID 1.11 §6.2.2.5)
CONST, VAR, REL, NULL = 0x01, 0x02, 0x04, 0x40
ARRAY = 0x00
NOPREF = 0x20


def _payload(value: int, signed: bool) -> bytes:
    if value == 0 and not signed:
        return b"\x00"
    for n in (1, 2, 4):
        lo, hi = (-(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1) if signed else (0, (1 << (8 * n)) - 1)
        if lo <= value <= hi:
            return (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")
    raise ValueError(f"item value {value} does not fit 4 bytes")


class Rdesc:
    """A growing descriptor; every method appends one item and returns self."""

    def __init__(self) -> None:
        self._out = bytearray()

    def item(self, tag: int, value: int | None = None, signed: bool = False) -> Rdesc:
        """``tag`` is the item prefix with size bits 0 (e.g. 0x04 Usage Page)."""
        if value is None:
            self._out.append(tag)
            return self
        data = _payload(value, signed)
        self._out.append(tag | {1: 1, 2: 2, 4: 3}[len(data)])
        self._out += data
        return self

    # global items
    def page(self, page: int) -> Rdesc:
        return self.item(0x04, page)

    def logical(self, lo: int, hi: int) -> Rdesc:
        return self.item(0x14, lo, signed=True).item(0x24, hi, signed=lo < 0)

    def size(self, bits: int) -> Rdesc:
        return self.item(0x74, bits)

    def count(self, n: int) -> Rdesc:
        return self.item(0x94, n)

    def report_id(self, rid: int) -> Rdesc:
        return self.item(0x84, rid)

    # local items
    def usage(self, *usages: int) -> Rdesc:
        for u in usages:
            self.item(0x08, u)
        return self

    def usage_range(self, lo: int, hi: int) -> Rdesc:
        return self.item(0x18, lo).item(0x28, hi)

    # main items
    def input(self, flags: int) -> Rdesc:
        return self.item(0x80, flags)

    def output(self, flags: int) -> Rdesc:
        return self.item(0x90, flags)

    def feature(self, flags: int) -> Rdesc:
        return self.item(0xB0, flags)

    def collection(self, kind: int) -> Rdesc:
        return self.item(0xA0, kind)

    def end(self) -> Rdesc:
        return self.item(0xC0)

    # shorthands
    def bits(self, kind: str, usages: list[int], flags: int) -> Rdesc:
        """One 1-bit variable per usage (logical 0..1), as an input or output run."""
        self.logical(0, 1).size(1).count(len(usages)).usage(*usages)
        return self.input(flags) if kind == "input" else self.output(flags)

    def pad(self, kind: str, nbits: int) -> Rdesc:
        self.size(1).count(nbits)
        return self.input(CONST) if kind == "input" else self.output(CONST)

    def bytes(self) -> bytes:
        return bytes(self._out)

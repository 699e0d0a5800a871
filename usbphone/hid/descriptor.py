"""HID report descriptors: parse the device's own bytes into a small typed layout (fields, reports, pages).

Everything else in usbphone reads descriptors through this module; nothing else imports hidtools.

Why hid-tools (``hidtools.hid.ReportDescriptor``, pinned ==0.12) and not another parser: measured over the 16
real descriptors in ../shared/hid-data/descriptors (DESIGN.md "Report-descriptor parsing"), hid-tools parsed
all 16, including the EPOS IMPACT D/D1 and Sennheiser SC 660 descriptors on which ``hid-parser`` 0.1.0 raised
("Mismatching usage page in usage") and the Plantronics 3220 vendor interface (TypeError). It follows the
spec where the real devices need it (usage pages concatenated at the Main item, Push/Pop, arrays with usage
ranges, report ids counted in bit offsets) and is the same code base as hid-recorder, whose trace format we
use. Its weaknesses, handled here: its API is not promised stable (pinned, and wrapped so only this file
changes on an upgrade), its parser raises assorted exceptions on garbage (turned into DescriptorError), it
reads Logical Maximum unsigned (we sign-extend values only when Logical Minimum is negative), and it does
not track End Collection (we never rely on its collection bookkeeping: fields carry their own usage pages).

Bit offsets count from the first byte of the report as read from hidraw, i.e. the report-id byte is bits
0-7 when the device uses report ids (the same convention as hid-tools and ../shared/checks/make_traces.py).

Edit this module when a device needs more of the descriptor than fields, reports and pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

# HID 1.11 §6.2.2.5 Main item data bits (source: HID spec 1.11; hid-tools hid.py names them the same)
FLAG_CONSTANT = 0x01
FLAG_VARIABLE = 0x02
FLAG_RELATIVE = 0x04
FLAG_NULL_STATE = 0x40

KINDS = ("input", "output", "feature")


class DescriptorError(ValueError):
    """The bytes are not a report descriptor we can read."""


@dataclass(frozen=True)
class Field:
    """One element run of a report: a variable (one usage, count 1) or an array (count slots, many usages).

    ``usage`` is the 16-bit usage id on ``usage_page`` (for arrays: the enclosing collection's usage);
    ``usages`` are the extended usages (page << 16 | id) an array's values index, starting at logical_min.
    """

    kind: str
    report_id: int  # 0 when the device uses no report ids
    bit_offset: int
    size: int  # bits per element
    count: int  # elements (1 for a variable)
    usage_page: int
    usage: int
    flags: int
    logical_min: int
    logical_max: int
    usages: tuple[int, ...] = ()

    @property
    def is_array(self) -> bool:
        return not self.flags & FLAG_VARIABLE

    @property
    def is_constant(self) -> bool:
        return bool(self.flags & FLAG_CONSTANT)

    @property
    def is_relative(self) -> bool:
        return bool(self.flags & FLAG_RELATIVE)

    @property
    def is_absolute(self) -> bool:
        return not self.is_relative

    @property
    def extended_usage(self) -> int:
        return self.usage_page << 16 | self.usage

    def read(self, data: bytes, index: int = 0) -> int | None:
        """The value of element ``index`` in ``data`` (None when the report is too short to hold it)."""
        start = self.bit_offset + index * self.size
        end = start + self.size
        if end > len(data) * 8:
            return None
        raw = int.from_bytes(data[start // 8 : (end + 7) // 8], "little") >> (start % 8)
        value = raw & ((1 << self.size) - 1)
        if self.logical_min < 0 and value >> (self.size - 1):
            value -= 1 << self.size
        return value

    def write(self, buf: bytearray, value: int, index: int = 0) -> None:
        """Store ``value`` into element ``index`` of ``buf`` (other bits untouched)."""
        start = self.bit_offset + index * self.size
        mask = (1 << self.size) - 1
        value &= mask
        for i in range(self.size):
            pos = start + i
            bit = 1 << (pos % 8)
            if value >> i & 1:
                buf[pos // 8] |= bit
            else:
                buf[pos // 8] &= ~bit & 0xFF

    def array_usage(self, value: int) -> int | None:
        """The extended usage an array value selects, or None for an out-of-range ("no key") value."""
        if not self.logical_min <= value <= self.logical_max:
            return None
        index = value - self.logical_min
        return self.usages[index] if 0 <= index < len(self.usages) else None


@dataclass(frozen=True)
class Report:
    """One report of one kind and id; ``size`` is its length in bytes, report-id byte included."""

    kind: str
    report_id: int
    size: int
    fields: tuple[Field, ...]


@dataclass
class Descriptor:
    """A parsed report descriptor."""

    raw: bytes
    reports: dict[tuple[str, int], Report] = field(default_factory=dict)
    usage_pages: frozenset[int] = frozenset()  # every page any Usage Page item names
    applications: tuple[int, ...] = ()  # extended usages of the Application collections

    @property
    def numbered(self) -> bool:
        """True when the device prefixes its reports with a report id."""
        return any(rid != 0 for _, rid in self.reports)

    def report(self, kind: str, report_id: int) -> Report | None:
        return self.reports.get((kind, report_id))

    def of_kind(self, kind: str) -> list[Report]:
        return [r for (k, _), r in sorted(self.reports.items()) if k == kind]

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for r in self.reports.values() for f in r.fields)

    def find(self, kind: str, page: int, usage: int) -> list[Field]:
        """Variable fields of ``kind`` carrying usage ``page``/``usage``."""
        wanted = (kind, page, usage)
        return [f for f in self.fields if not f.is_array and (f.kind, f.usage_page, f.usage) == wanted]

    def has_page(self, page: int) -> bool:
        """True when a data field (or an array's usage list) uses ``page``."""
        for f in self.fields:
            if f.is_constant:
                continue
            if f.usage_page == page or any(u >> 16 == page for u in f.usages):
                return True
        return False

    def input_report_for(self, data: bytes) -> Report | None:
        """The input report layout a raw input report (as read from hidraw) belongs to."""
        if not data:
            return None
        if self.numbered:
            return self.reports.get(("input", data[0]))
        return self.reports.get(("input", 0))


def _convert_field(kind: str, hf: object) -> Field:
    rid = max(int(hf.report_ID), 0)  # type: ignore[attr-defined]
    usage = int(hf.usage)  # type: ignore[attr-defined]
    flags = int(hf.type)  # type: ignore[attr-defined]
    size = int(hf.size)  # type: ignore[attr-defined]
    count = int(hf.count) if not flags & FLAG_VARIABLE else 1  # type: ignore[attr-defined]
    return Field(
        kind=kind,
        report_id=rid,
        bit_offset=int(hf.start),  # type: ignore[attr-defined]
        size=size,
        count=count,
        usage_page=usage >> 16,
        usage=usage & 0xFFFF,
        flags=flags,
        logical_min=int(hf.logical_min),  # type: ignore[attr-defined]
        logical_max=int(hf.logical_max),  # type: ignore[attr-defined]
        usages=tuple(int(u) for u in (hf.usages or ())),  # type: ignore[attr-defined]
    )


# The kernel refuses descriptors past these (source: linux include/linux/hid.h HID_MAX_USAGES,
# drivers/hid/hid-core.c "invalid report_size"); checking first keeps garbage from making hid-tools build
# millions of fields.
MAX_COUNT = 12288
MAX_SIZE = 256


def _check_limits(raw: bytes) -> None:
    i, usage_min = 0, 0
    while i < len(raw):
        prefix = raw[i]
        if prefix == 0xFE:  # long item: skip its data (HID 1.11 §6.2.2.3)
            i += 3 + (raw[i + 1] if i + 1 < len(raw) else 0)
            continue
        n = (0, 1, 2, 4)[prefix & 3]
        value = int.from_bytes(raw[i + 1 : i + 1 + n], "little")
        tag = prefix & 0xFC
        if tag == 0x94 and value > MAX_COUNT:
            raise DescriptorError(f"Report Count {value} at byte {i} is over the kernel's limit {MAX_COUNT}")
        if tag == 0x74 and value > MAX_SIZE:
            raise DescriptorError(f"Report Size {value} at byte {i} is over the kernel's limit {MAX_SIZE}")
        if tag == 0x18:
            usage_min = value
        if tag == 0x28 and value - usage_min > MAX_COUNT:
            raise DescriptorError(f"Usage Minimum/Maximum range at byte {i} is over {MAX_COUNT} usages")
        i += 1 + n


def parse_descriptor(raw: bytes) -> Descriptor:
    """Parse report-descriptor bytes; raises DescriptorError with a readable reason."""
    if not raw:
        raise DescriptorError("empty report descriptor")
    _check_limits(raw)
    from hidtools.hid import ReportDescriptor  # the only hidtools import in usbphone

    try:
        rd = ReportDescriptor.from_bytes(list(raw))
    except Exception as exc:  # hid-tools raises KeyError/IndexError/ParseError/... on bad bytes
        raise DescriptorError(f"cannot parse report descriptor ({type(exc).__name__}: {exc})") from None
    desc = Descriptor(raw=bytes(raw))
    sources = (("input", rd.input_reports), ("output", rd.output_reports), ("feature", rd.feature_reports))
    for kind, table in sources:
        for rid, hreport in table.items():
            fields = tuple(_convert_field(kind, hf) for hf in hreport.fields)
            report_id = max(int(rid), 0)
            desc.reports[(kind, report_id)] = Report(kind, report_id, (int(hreport.bitsize) + 7) // 8, fields)
    pages: set[int] = set()
    apps: list[int] = []
    page = 0
    last_usage: int | None = None
    for item in rd.rdesc_items:
        if item.item == "Usage Page":
            page = int(item.value)
            pages.add(page)
        elif item.item == "Usage":
            value = int(item.value)
            last_usage = value if item.size > 3 else page << 16 | value
        elif item.item == "Collection":
            if int(item.value) == 1 and last_usage is not None:  # 1 = Application (HID 1.11 §6.2.2.6)
                apps.append(last_usage)
            last_usage = None
        elif item.item in ("Input", "Output", "Feature"):
            last_usage = None
    desc.usage_pages = frozenset(pages)
    desc.applications = tuple(apps)
    return desc


def usage_pages(raw: bytes) -> frozenset[int]:
    """The usage pages a descriptor names; empty for no/unparsable descriptor (used by profile matching)."""
    if not raw:
        return frozenset()
    try:
        return parse_descriptor(raw).usage_pages
    except DescriptorError:
        return frozenset()

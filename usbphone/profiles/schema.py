"""The profile schema: what a devices/<id>/profile.toml may say, checked field by field.

A profile file::

    [device]
    name = "Jabra Evolve Link"            # shown to users
    driver = "hid_telephony"              # one of usbphone.drivers.DRIVERS
    transport = "hidraw"                  # hidraw | pyusb | serial
    source = "where the facts below come from"

    [[match]]                             # one or more; a device matches if any rule matches
    bus = "usb"                           # usb | bluetooth | serial (optional, default usb)
    vid = 0x0b0e                          # required
    pid = 0x0307                          # optional: absent = any PID of this vendor
    interface = 3                         # optional USB interface number
    usage_page = 0x0b                     # optional: the descriptor must declare this page
    name = "Jabra*"                       # optional fnmatch glob on the product name
    source = "usb.ids"                    # why this entry exists

    [options]                             # driver-specific, validated by the driver
    [quirks]                              # named behaviour switches (documented in devices/README.md)

Edit this module when the common part of the schema changes; driver-specific options are validated
by each driver's ``validate_options``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

TRANSPORTS = frozenset({"hidraw", "pyusb", "serial"})
BUSES = {"usb": 0x03, "bluetooth": 0x05, "serial": 0x00, "virtual": 0x06}


class ProfileError(ValueError):
    """A malformed or conflicting profile; the message names the file and the field."""


@dataclass(frozen=True)
class DeviceInfo:
    """What we know of a device before opening it (from udev/sysfs, pyusb or a trace's header)."""

    bus: int = 0x03
    vid: int = 0
    pid: int = 0
    name: str = ""
    interface: int | None = None
    descriptor: bytes = b""
    serial: str = ""
    path: str = ""  # device node (/dev/hidraw3, /dev/ttyUSB0) or "usb:BUS:ADDR"
    phys: str = ""  # stable USB path (e.g. usb-0000:00:14.0-3/input3)
    usage_pages: frozenset[int] = frozenset()

    @property
    def id_text(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"


@dataclass(frozen=True)
class MatchRule:
    vid: int
    pid: int | None = None
    bus: str = "usb"
    interface: int | None = None
    usage_page: int | None = None
    name: str | None = None
    source: str = ""

    def matches(self, dev: DeviceInfo) -> bool:
        if BUSES[self.bus] != dev.bus or self.vid != dev.vid:
            return False
        if self.pid is not None and self.pid != dev.pid:
            return False
        if self.interface is not None and dev.interface is not None and self.interface != dev.interface:
            return False
        if self.usage_page is not None and self.usage_page not in dev.usage_pages:
            return False
        return self.name is None or fnmatch.fnmatch(dev.name, self.name)

    @property
    def specificity(self) -> int:
        """How narrow the rule is; the narrowest matching rule wins."""
        return sum(
            x is not None for x in (self.pid, self.interface, self.usage_page, self.name)
        ) + (2 if self.pid is not None else 0)

    def key(self) -> tuple[Any, ...]:
        return (self.bus, self.vid, self.pid, self.interface, self.usage_page, self.name)


@dataclass(frozen=True)
class Profile:
    id: str  # directory name, e.g. "yealink-usb-p1k"
    name: str
    driver: str
    transport: str
    matches: tuple[MatchRule, ...]
    options: dict[str, Any] = field(default_factory=dict)
    quirks: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    path: str = ""  # the profile.toml it came from
    layer: str = "built-in"  # built-in | system | user

    def best_rule(self, dev: DeviceInfo) -> MatchRule | None:
        hits = [r for r in self.matches if r.matches(dev)]
        return max(hits, key=lambda r: r.specificity) if hits else None


def _int_field(table: dict[str, Any], key: str, where: str, *, lo: int, hi: int) -> int | None:
    val = table.get(key)
    if val is None:
        return None
    if isinstance(val, str):
        try:
            val = int(val, 0)
        except ValueError:
            raise ProfileError(f"{where}: field '{key}' = {val!r} is not a number") from None
    if not isinstance(val, int) or isinstance(val, bool) or not lo <= val <= hi:
        raise ProfileError(f"{where}: field '{key}' must be an integer {lo}..{hi:#x}, got {val!r}")
    return val


_MATCH_KEYS = {"bus", "vid", "pid", "interface", "usage_page", "name", "source"}


def parse_match(table: Any, where: str) -> MatchRule:
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: each [[match]] must be a table")
    unknown = set(table) - _MATCH_KEYS
    if unknown:
        raise ProfileError(f"{where}: unknown field '{sorted(unknown)[0]}' (allowed: {', '.join(sorted(_MATCH_KEYS))})")
    bus = table.get("bus", "usb")
    if bus not in BUSES:
        raise ProfileError(f"{where}: field 'bus' must be one of {', '.join(BUSES)}, got {bus!r}")
    vid = _int_field(table, "vid", where, lo=0, hi=0xFFFF)
    if vid is None:
        raise ProfileError(f"{where}: field 'vid' is required")
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise ProfileError(f"{where}: field 'name' must be a string glob")
    return MatchRule(
        vid=vid,
        pid=_int_field(table, "pid", where, lo=0, hi=0xFFFF),
        bus=bus,
        interface=_int_field(table, "interface", where, lo=0, hi=255),
        usage_page=_int_field(table, "usage_page", where, lo=0, hi=0xFFFF),
        name=name,
        source=str(table.get("source", "")),
    )

"""The driver contract every protocol family implements (see DESIGN.md "Data flow").

A driver is pure protocol logic: it never opens files or sockets. The device runner (usbphone.hid.runner)
owns the transport and calls, in a loop:

    for out in driver.start(): transport.write(out)           # once, after open
    loop:
        for out in driver.poll(now): transport.write(out)      # polled devices (Yealink, CM109) ask here
        data = transport.read(timeout=driver.read_timeout(now))
        events = driver.decode(data, now) if data else driver.tick(now)
    for command in commands: for out in driver.encode(command): transport.write(out)

``decode`` must turn the first report into state silently (a device starts on hook), emit events on
changes only, and never raise on bad bytes: count them in ``self.stats`` and return [].

Edit this module only when the contract itself changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.profiles.schema import DeviceInfo, Profile, ProfileError

WRITE_TRANSPORTS = frozenset({"hidraw", "feature", "control", "interrupt", "serial"})


@dataclass(frozen=True)
class OutputReport:
    """One write to a device: ``data`` exactly as written (report id first when the device uses ids).

    ``timed``: a step of something a command started (a ring cadence, a blinking LED) that ``poll`` writes
    later; the runner reports those writes like a command's own (the event log's ``device_write``)."""

    data: bytes
    transport: str = "hidraw"
    timed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.transport not in WRITE_TRANSPORTS:
            raise ValueError(f"unknown write transport {self.transport!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"report": self.data.hex(" "), "transport": self.transport}
        if self.timed:
            out["timed"] = True
        return out


@dataclass
class Capabilities:
    """What a device can do, for `usbphone devices`, the Phone and the audio bridge."""

    hook: bool = False
    hook_kind: str = "absolute"  # absolute | toggle | none
    keypad: bool = False
    buttons: set[str] = field(default_factory=set)
    leds: set[str] = field(default_factory=set)
    ringer: bool = False
    lcd: bool = False
    speaker: bool = False
    telephony: bool = True  # False: e.g. a gaming headset with no telephony usages
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.telephony:
            return "no telephony controls (audio only)"
        parts = []
        if self.hook:
            parts.append(f"hook({self.hook_kind})")
        if self.keypad:
            parts.append("keypad")
        if self.buttons:
            parts.append("buttons:" + ",".join(sorted(self.buttons)))
        if self.leds:
            parts.append("leds:" + ",".join(sorted(self.leds)))
        if self.ringer:
            parts.append("ringer")
        if self.lcd:
            parts.append("lcd")
        if self.speaker:
            parts.append("speaker")
        return " ".join(parts) or "none"


class Driver(ABC):
    """Base class: subclasses set ``name`` and implement decode/encode."""

    name: ClassVar[str] = ""

    def __init__(self, profile: Profile | None, device: DeviceInfo) -> None:
        self.profile = profile
        self.device = device
        self.options: dict[str, Any] = dict(profile.options) if profile else {}
        self.quirks: dict[str, Any] = dict(profile.quirks) if profile else {}
        self.stats: Counter[str] = Counter()

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """Raise ProfileError naming ``where`` and the field when the profile's [options] are wrong."""
        if options:
            raise ProfileError(f"{where}: driver '{cls.name}' takes no options, got '{sorted(options)[0]}'")

    @classmethod
    def validate_quirks(cls, quirks: dict[str, Any], where: str) -> None:
        """Raise ProfileError naming ``where`` and the quirk when the profile's [quirks] are wrong.

        The default accepts any table; drivers with named quirks override it.
        """
        return None

    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        """One report from the device → zero or more events (never raises on bad input)."""

    @abstractmethod
    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        """One command → the writes that carry it ([] when the device cannot do it)."""

    def start(self) -> list[OutputReport]:
        """Writes to send right after opening (init packets, model query)."""
        return []

    def poll(self, t: float) -> list[OutputReport]:
        """Writes a polled device needs now (key scan requests); [] for devices that report by themselves."""
        return []

    def read_timeout(self, t: float) -> float | None:
        """How long the runner may block in read; None = until the next report (interrupt-driven devices)."""
        return None

    def tick(self, t: float) -> list[HandsetEvent]:
        """Called when a read timed out: time-based events (stuck-key release, cadence steps)."""
        return []

    def stop(self) -> list[OutputReport]:
        """Writes to send before closing (ringer off, LEDs off, PSTN switch back)."""
        return []

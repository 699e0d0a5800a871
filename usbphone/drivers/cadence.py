"""Ring cadences and LED blinking for devices whose ringer and LEDs are plain on/off switches.

A cadence is a repeating list of (ringer on?, seconds). ``Cadence.state_at(t)`` says whether the ringer
should sound at time ``t`` since ringing began. ``Ringer`` holds a driver's ringing state: ``set`` starts or
stops ringing, ``step(t)`` (called from the driver's ``poll``) says when to switch, so drivers write only on
changes. ``Blinker`` does the same for LEDs told to ``blink`` (no device here has a blink command of its own):
on at once, then switched every ``BLINK_HALF`` seconds.
Named cadences come from national ringing patterns; a profile may add its own under
``[options.cadences]`` as ``name = [on, off, on, off, ...]`` seconds.

Edit this module to add a built-in cadence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from usbphone.profiles.schema import ProfileError

# source: ITU-T E.180 Supplement 2 ("Various tones used in national networks"), ringing tone cadences:
# North America 2 s on / 4 s off; UK and Ireland 0.4 on, 0.2 off, 0.4 on, 2.0 off; Germany 1 s on / 4 s off.
BUILTIN: dict[str, tuple[float, ...]] = {
    "standard": (1.0, 4.0),
    "us": (2.0, 4.0),
    "uk": (0.4, 0.2, 0.4, 2.0),
    "de": (1.0, 4.0),
    "short": (0.5, 0.5),
}
DEFAULT = "standard"
BLINK_HALF = 0.5  # our choice: LEDs told to blink go on and off at 1 Hz (no device protocol has a blink rate)


@dataclass(frozen=True)
class Cadence:
    """Alternating on/off durations in seconds, starting with "on"."""

    name: str
    steps: tuple[float, ...]

    @property
    def period(self) -> float:
        return sum(self.steps)

    def state_at(self, elapsed: float) -> tuple[bool, float]:
        """(ringer on?, seconds until the next change) at ``elapsed`` seconds after ringing began."""
        pos = elapsed % self.period if self.period > 0 else 0.0
        acc = 0.0
        for i, step in enumerate(self.steps):
            acc += step
            if pos < acc:
                return i % 2 == 0, acc - pos
        return True, self.steps[0]


def parse_cadences(value: Any, where: str) -> dict[str, tuple[float, ...]]:
    """Validate a profile's ``cadences`` table: name -> list of positive seconds, even length."""
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: 'cadences' must be a table of name = [on, off, ...] seconds")
    out: dict[str, tuple[float, ...]] = {}
    for name, steps in value.items():
        ok = isinstance(steps, list) and steps and len(steps) % 2 == 0
        ok = ok and all(isinstance(s, int | float) and not isinstance(s, bool) and 0 < s <= 60 for s in steps)
        if not ok:
            raise ProfileError(f"{where}: cadence '{name}' must be an even-length list of seconds (0-60]")
        out[str(name)] = tuple(float(s) for s in steps)
    return out


def pick(name: str, extra: dict[str, tuple[float, ...]], default: str = DEFAULT) -> Cadence:
    """The cadence called ``name`` (profile ones first), else the default: unknown names never fail a call."""
    table = {**BUILTIN, **extra}
    if name in table:
        return Cadence(name, table[name])
    chosen = default if default in table else DEFAULT
    return Cadence(chosen, table[chosen])


def validate(options: dict[str, Any], where: str) -> None:
    """Check the cadence options a ringer driver takes (``cadences``; ``ring_cadence`` may name any)."""
    if "cadences" in options:
        parse_cadences(options["cadences"], where)


class Ringer:
    """An on/off ringer switched by a cadence; ``sounding`` is what the driver last wrote."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.cadences = parse_cadences(options.get("cadences", {}), "options")
        self.cadence = pick(options.get("ring_cadence", DEFAULT), self.cadences)
        self.ringing = False
        self.start: float | None = None
        self.sounding = False

    def set(self, on: bool, cadence_name: str = "") -> None:
        """Start (``on``) or stop ringing; a cadence name switches the cadence (unknown: keep the current one)."""
        if cadence_name:
            self.cadence = pick(cadence_name, self.cadences, self.cadence.name)
        self.ringing, self.start = on, None

    def elapsed(self, t: float) -> float:
        """Seconds since ringing began (the first call after ``set`` starts the clock)."""
        if self.start is None:
            self.start = t
        return t - self.start

    def step(self, t: float) -> bool | None:
        """The level to switch the ringer to now, or None when it stays as it is."""
        if not self.ringing:
            return None
        want, _ = self.cadence.state_at(self.elapsed(t))
        return want if want != self.sounding else None


class Blinker:
    """LEDs told to blink: which are lit now, and when they switch next."""

    def __init__(self, half: float = BLINK_HALF) -> None:
        self.half = half
        self.lit: dict[str, bool] = {}
        self.next: float | None = None  # None: the clock starts at the next step()

    @property
    def active(self) -> bool:
        return bool(self.lit)

    def start(self, name: str) -> None:
        """``name`` blinks, lit now (the caller writes it on)."""
        self.lit[name], self.next = True, None

    def stop(self, name: str | None = None) -> None:
        """``name`` (or every LED) stops blinking; the caller writes its steady level."""
        if name is None:
            self.lit.clear()
        else:
            self.lit.pop(name, None)

    def step(self, t: float) -> dict[str, bool]:
        """The LEDs to switch now, with their new level ({} when none is due)."""
        if not self.lit:
            return {}
        if self.next is None:
            self.next = t + self.half
            return {}
        if t < self.next:
            return {}
        self.next = t + self.half
        self.lit = {name: not lit for name, lit in self.lit.items()}
        return dict(self.lit)

    def timeout(self, t: float) -> float | None:
        """How long a driver may wait before the next step (None: nothing blinks)."""
        if not self.lit:
            return None
        return 0.005 if self.next is None else max(0.005, self.next - t)

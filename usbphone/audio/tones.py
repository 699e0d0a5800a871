"""Renders call-progress tones, DTMF feedback and a speaker ring into float32 samples at any rate.

A tone is a ``ToneSpec``: steps of (frequencies, on ms, off ms), played in order and repeated (or once).
``ToneRenderer.render(n)`` returns the next ``n`` samples, phase-continuous across calls, with 2 ms ramps at
every on/off edge so cadences do not click. ``tone_spec(name, country)`` gives the built-in country sets;
when ``usbphone.phone.tones`` (the Phone's tone table) provides a spec for a name, that one wins.

Edit this module to add a country or a tone; the frequencies/cadences below name their source.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

RAMP_S = 0.002
DEFAULT_LEVEL_DBFS = -16.0  # per frequency component; two components stay below -10 dBFS together


@dataclass(frozen=True)
class ToneStep:
    freqs: tuple[float, ...]
    on_ms: int
    off_ms: int = 0


@dataclass(frozen=True)
class ToneSpec:
    steps: tuple[ToneStep, ...]
    repeat: bool = True
    level_dbfs: float = DEFAULT_LEVEL_DBFS

    @classmethod
    def of(cls, steps: Iterable[Sequence], repeat: bool = True, level_dbfs: float = DEFAULT_LEVEL_DBFS) -> ToneSpec:
        """Build from plain tuples: ``ToneSpec.of([((350, 440), 1000, 0)])``."""
        out = []
        for step in steps:
            freqs, on_ms = step[0], int(step[1])
            off_ms = int(step[2]) if len(step) > 2 else 0
            freqs = (float(freqs),) if isinstance(freqs, int | float) else tuple(float(f) for f in freqs)
            if on_ms < 0 or off_ms < 0 or on_ms + off_ms == 0:
                raise ValueError(f"tone step needs a positive duration: {step!r}")
            out.append(ToneStep(freqs, on_ms, off_ms))
        if not out:
            raise ValueError("tone spec has no steps")
        return cls(tuple(out), repeat, level_dbfs)

    @property
    def period_ms(self) -> int:
        return sum(s.on_ms + s.off_ms for s in self.steps)


def _spec(steps: list, repeat: bool = True) -> ToneSpec:
    return ToneSpec.of(steps, repeat)


# source: ITU-T E.180 Supplement 2 (2010), "United States" entry; also the AT&T "Precise Tone Plan"
# (dial 350+440, ringback 440+480 2 s/4 s, busy 480+620 0.5/0.5, reorder 480+620 0.25/0.25).
US_TONES: dict[str, ToneSpec] = {
    "dial": _spec([((350, 440), 1000, 0)]),
    "ringback": _spec([((440, 480), 2000, 4000)]),
    "busy": _spec([((480, 620), 500, 500)]),
    "reorder": _spec([((480, 620), 250, 250)]),
    "call_waiting": _spec([((440,), 300, 9700)]),
    "confirm": _spec([((350, 440), 100, 100)] * 3, repeat=False),
    "ring": _spec([((440, 480), 2000, 4000)]),
}
# source: ETSI TR 101 041-2 (CEPT recommended values, ETSI ES 201 970): 425 Hz; dial continuous, ringing
# 1 s on/4 s off, busy 0.5/0.5, congestion 0.25/0.25; call waiting 0.2 on, 0.2 off, 0.2 on, 4.4 s off.
EU_TONES: dict[str, ToneSpec] = {
    "dial": _spec([((425,), 1000, 0)]),
    "ringback": _spec([((425,), 1000, 4000)]),
    "busy": _spec([((425,), 500, 500)]),
    "reorder": _spec([((425,), 250, 250)]),
    "call_waiting": _spec([((425,), 200, 200), ((425,), 200, 4400)]),
    "confirm": _spec([((425,), 100, 100)] * 3, repeat=False),
    "ring": _spec([((425,), 1000, 4000)]),
}
COUNTRIES: dict[str, dict[str, ToneSpec]] = {"us": US_TONES, "eu": EU_TONES}

# source: ITU-T Q.23 (DTMF row/column frequencies)
DTMF_FREQS: dict[str, tuple[float, float]] = {}
for _r, _row in zip((697, 770, 852, 941), ("123A", "456B", "789C", "*0#D"), strict=True):
    for _c, _key in zip((1209, 1336, 1477, 1633), _row, strict=True):
        DTMF_FREQS[_key] = (float(_r), float(_c))


def tone_spec(name: str, country: str = "us") -> ToneSpec:
    """The spec for a tone name (``dial``, ``ringback``, ...); the Phone's table wins when it has one."""
    phone_spec = _phone_table_spec(name, country)
    if phone_spec is not None:
        return phone_spec
    table = COUNTRIES.get(country.lower())
    if table is None:
        raise ValueError(f"unknown tone country {country!r} (known: {', '.join(sorted(COUNTRIES))})")
    if name not in table:
        raise ValueError(f"unknown tone {name!r} (known: {', '.join(sorted(table))})")
    return table[name]


def _phone_table_spec(name: str, country: str) -> ToneSpec | None:
    """Ask usbphone.phone.tones (owned by the Phone) for ``spec(name, country)`` if it exists."""
    try:
        module = importlib.import_module("usbphone.phone.tones")
    except ImportError:
        return None
    getter = getattr(module, "spec", None) or getattr(module, "tone_spec", None)
    if getter is None:
        return None
    try:
        found = getter(name, country)
    except (KeyError, ValueError):
        return None
    if found is None or isinstance(found, ToneSpec):
        return found
    steps = getattr(found, "steps", found)
    return ToneSpec.of(steps, bool(getattr(found, "repeat", True)))


def dtmf_spec(digit: str, ms: int = 100) -> ToneSpec:
    """Key-press feedback for one DTMF digit (played once)."""
    if digit not in DTMF_FREQS:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return ToneSpec((ToneStep(DTMF_FREQS[digit], ms, 0),), repeat=False, level_dbfs=-20.0)


class ToneRenderer:
    """Stateful sample generator for one ToneSpec at one rate (single thread: the audio callback)."""

    def __init__(self, spec: ToneSpec, rate: int, gain: float = 1.0) -> None:
        self.spec, self.rate = spec, rate
        self.gain = gain
        self._amp = 10 ** (spec.level_dbfs / 20)
        self._bounds = []  # per step: (start, on_end, end) in samples within one period
        pos = 0
        for s in spec.steps:
            on, off = round(s.on_ms * rate / 1000), round(s.off_ms * rate / 1000)
            self._bounds.append((pos, pos + on, pos + on + off))
            pos += on + off
        self._period = pos
        self._pos = 0  # samples rendered since start
        self._ramp = max(int(RAMP_S * rate), 1)

    @property
    def done(self) -> bool:
        return not self.spec.repeat and self._pos >= self._period

    def render(self, n: int) -> np.ndarray:
        t = self._pos + np.arange(n, dtype=np.int64)
        self._pos += n
        out = np.zeros(n, dtype=np.float64)
        phase_t = t / self.rate  # absolute time keeps every frequency phase-continuous across steps
        within = t % self._period if self.spec.repeat else t
        for step, (start, on_end, _end) in zip(self.spec.steps, self._bounds, strict=True):
            mask = (within >= start) & (within < on_end)
            if not mask.any():
                continue
            k = within[mask] - start
            env = np.minimum(1.0, np.minimum(k + 1, on_end - start - k) / self._ramp)
            if step.off_ms == 0 and len(self.spec.steps) == 1 and self.spec.repeat:
                env = np.minimum(1.0, (t[mask] + 1) / self._ramp)  # continuous tone: ramp only at the start
            tone = sum(np.sin(2 * np.pi * f * phase_t[mask]) for f in step.freqs)
            out[mask] = tone * env
        return (out * self._amp * self.gain).astype(np.float32)

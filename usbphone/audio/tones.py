"""Renders call-progress tones, DTMF feedback and a speaker ring into float32 samples at any rate.

A tone is a ``ToneSpec``: steps of (frequencies, on ms, off ms), played in order and repeated (or once).
``ToneRenderer.render(n)`` returns the next ``n`` samples, phase-continuous across calls, with 2 ms ramps at
every on/off edge so cadences do not click. ``tone_spec(name, country)`` converts the Phone's country tone
plans (usbphone/phone/tones.py: the one place frequencies and cadences live) into steps; ``dtmf_spec`` and
``RING`` are the bridge's own sounds (key feedback, a speaker ring for devices without a ringer).

Edit this module to change how tones are rendered; edit usbphone/phone/tones.py to change what they are.
"""

from __future__ import annotations

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
    modulate: bool = False  # first frequency amplitude-modulated by the second (Japan's ringback)

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


# source: ITU-T G.711 (0 dBm0 is a sine 3.14 dB below the codec's full scale)
DBM0_TO_DBFS = -3.14

# A speaker "ring" for devices without a ringer (P4K, most headsets): a 1000/1250 Hz warble, 1 s on, 2 s off.
# Not a network tone, a product choice; loud enough to be heard from the desk at ring_volume 100.
RING = ToneSpec(
    tuple(ToneStep((1000.0,) if i % 2 == 0 else (1250.0,), 50, 0) for i in range(19))
    + (ToneStep((1000.0,), 50, 2000),),
    repeat=True,
    level_dbfs=-6.0,
)


def from_phone(phone: object) -> ToneSpec:
    """Convert the Phone's spec (usbphone/phone/tones.py: freqs, cadence in s on/off, level_db in dBm0,
    repeat, modulate) into steps for the renderer."""
    freqs = tuple(float(f) for f in getattr(phone, "freqs"))  # noqa: B009 - duck-typed on purpose
    cadence = tuple(getattr(phone, "cadence", ()))
    level = float(getattr(phone, "level_db", -13.0)) + DBM0_TO_DBFS
    modulate = bool(getattr(phone, "modulate", False))
    if not cadence:
        steps: tuple[ToneStep, ...] = (ToneStep(freqs, 1000, 0),)
    else:
        pairs = [cadence[i:i + 2] for i in range(0, len(cadence), 2)]
        steps = tuple(ToneStep(freqs, round(p[0] * 1000), round(p[1] * 1000) if len(p) > 1 else 0) for p in pairs)
    return ToneSpec(steps, bool(getattr(phone, "repeat", True)), level, modulate)


# source: ITU-T Q.23 (DTMF row/column frequencies)
DTMF_FREQS: dict[str, tuple[float, float]] = {}
for _r, _row in zip((697, 770, 852, 941), ("123A", "456B", "789C", "*0#D"), strict=True):
    for _c, _key in zip((1209, 1336, 1477, 1633), _row, strict=True):
        DTMF_FREQS[_key] = (float(_r), float(_c))


def tone_spec(name: str, country: str = "us") -> ToneSpec:
    """The spec for a Phone tone name (``dial``, ``ringback``, ...) in ``country``, or ``ring``."""
    if name == "ring":
        return RING
    from usbphone.phone.tones import tone_plan

    try:
        plan = tone_plan(country)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    if name not in plan:
        raise ValueError(f"unknown tone {name!r} (known: {', '.join(sorted(plan))}, ring)")
    return from_phone(plan[name])


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
            if self.spec.modulate and len(step.freqs) > 1:
                carrier, mod = step.freqs[0], step.freqs[1]
                ph = phase_t[mask]
                tone = np.sin(2 * np.pi * carrier * ph) * (0.5 + 0.5 * np.sin(2 * np.pi * mod * ph))
            else:
                tone = sum(np.sin(2 * np.pi * f * phase_t[mask]) for f in step.freqs)
            out[mask] = tone * env
        return (out * self._amp * self.gain).astype(np.float32)

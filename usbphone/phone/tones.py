"""Call-progress tone plans per country, as data: frequencies and on/off cadences for each Phone tone.

The Phone only says ``tone dial`` / ``tone busy`` …; the audio bridge (usbphone/sip/audio.py) asks
``tone_plan(country)`` how each one sounds and renders it into the earpiece. Edit this module to add a
country or correct a value; keep the source comment on every plan.

Conventions: ``freqs`` are summed sines in Hz (a ``modulate`` entry means the first frequency is amplitude-
modulated by the second, as Japan's ringback). ``cadence`` is (on, off, on, off, …) in seconds and repeats;
empty = continuous. ``repeat=False`` plays the cadence once and then stays silent (confirm tones).
"""

from __future__ import annotations

from dataclasses import dataclass

TONE_NAMES = ("dial", "ringback", "busy", "reorder", "call_waiting", "confirm")


@dataclass(frozen=True)
class ToneSpec:
    """How one tone sounds: frequencies (Hz), cadence (s, on/off pairs), level (dBm0 per frequency)."""

    freqs: tuple[float, ...]
    cadence: tuple[float, ...] = ()
    level_db: float = -13.0
    repeat: bool = True
    modulate: bool = False

    @property
    def continuous(self) -> bool:
        return not self.cadence

    @property
    def period(self) -> float:
        return sum(self.cadence)

    def is_on(self, t: float) -> bool:
        """Whether the tone sounds ``t`` seconds after it started (for renderers and tests)."""
        if not self.cadence:
            return True
        if not self.repeat and t >= self.period:
            return False
        t = t % self.period
        for i, length in enumerate(self.cadence):
            if t < length:
                return i % 2 == 0
            t -= length
        return False


def _confirm(*freqs: float) -> ToneSpec:
    # Three short beeps, as the "stutter"/confirmation tone after a feature code (Telcordia GR-506 style).
    return ToneSpec(freqs, (0.1, 0.1, 0.1, 0.1, 0.1, 0.1), repeat=False)


# source: ITU-T E.180 Supplement 2 "Various tones used in national networks" (national values as
# notified to the ITU); the same values are tabulated per country in Asterisk's indications.conf.sample.
# US: ANSI T1.401 / Telcordia LSSGR precise tone plan.
_PLANS: dict[str, dict[str, ToneSpec]] = {
    "us": {
        "dial": ToneSpec((350, 440)),
        "ringback": ToneSpec((440, 480), (2.0, 4.0)),
        "busy": ToneSpec((480, 620), (0.5, 0.5)),
        "reorder": ToneSpec((480, 620), (0.25, 0.25)),
        "call_waiting": ToneSpec((440,), (0.3, 10.0)),
        "confirm": _confirm(350, 440),
    },
    "uk": {  # BT SIN 350
        "dial": ToneSpec((350, 440)),
        "ringback": ToneSpec((400, 450), (0.4, 0.2, 0.4, 2.0)),
        "busy": ToneSpec((400,), (0.375, 0.375)),
        "reorder": ToneSpec((400,), (0.4, 0.35, 0.225, 0.525)),
        "call_waiting": ToneSpec((400,), (0.1, 3.0)),
        "confirm": _confirm(350, 440),
    },
    "de": {
        "dial": ToneSpec((425,)),
        "ringback": ToneSpec((425,), (1.0, 4.0)),
        "busy": ToneSpec((425,), (0.48, 0.48)),
        "reorder": ToneSpec((425,), (0.24, 0.24)),
        "call_waiting": ToneSpec((425,), (0.2, 0.2, 0.2, 5.0)),
        "confirm": _confirm(425),
    },
    "fr": {
        "dial": ToneSpec((440,)),
        "ringback": ToneSpec((440,), (1.5, 3.5)),
        "busy": ToneSpec((440,), (0.5, 0.5)),
        "reorder": ToneSpec((440,), (0.25, 0.25)),
        "call_waiting": ToneSpec((440,), (0.3, 10.0)),
        "confirm": _confirm(440),
    },
    "nl": {
        "dial": ToneSpec((425,)),
        "ringback": ToneSpec((425,), (1.0, 4.0)),
        "busy": ToneSpec((425,), (0.5, 0.5)),
        "reorder": ToneSpec((425,), (0.25, 0.25)),
        "call_waiting": ToneSpec((425,), (0.5, 9.5)),
        "confirm": _confirm(425),
    },
    "jp": {
        "dial": ToneSpec((400,)),
        "ringback": ToneSpec((400, 15), (1.0, 2.0), modulate=True),
        "busy": ToneSpec((400,), (0.5, 0.5)),
        "reorder": ToneSpec((400,), (0.5, 0.5)),
        "call_waiting": ToneSpec((400, 16), (0.5, 8.0), modulate=True),
        "confirm": _confirm(400),
    },
    "au": {
        "dial": ToneSpec((413, 438)),
        "ringback": ToneSpec((413, 438), (0.4, 0.2, 0.4, 2.0)),
        "busy": ToneSpec((425,), (0.375, 0.375)),
        "reorder": ToneSpec((425,), (0.375, 0.375)),
        "call_waiting": ToneSpec((425,), (0.2, 0.2, 0.2, 4.4)),
        "confirm": _confirm(413, 438),
    },
}
_ALIASES = {"gb": "uk", "ca": "us", "at": "de", "ch": "de", "be": "nl"}

DEFAULT_COUNTRY = "us"


def countries() -> list[str]:
    """Every country code tone_plan accepts."""
    return sorted(set(_PLANS) | set(_ALIASES))


def tone_plan(country: str = DEFAULT_COUNTRY) -> dict[str, ToneSpec]:
    """The tones of ``country`` (ISO 3166 alpha-2, any case); KeyError names the known ones."""
    code = _ALIASES.get(country.lower(), country.lower())
    if code not in _PLANS:
        raise KeyError(f"no tone plan for country {country!r} (known: {', '.join(countries())})")
    return dict(_PLANS[code])

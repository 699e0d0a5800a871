"""The [audio] config section as the bridge reads it, and the earpiece volume curve.

``Config.audio.device`` plus the keys kept in ``Config.audio.extra`` (usbphone/config.py leaves them to the
bridge): samplerate, bridge_rate, volume, ring_volume, country, latency, device_lost, echo_cancel, linger_s.
Bad values raise ValueError with the key's name. Edit this module when an [audio] key is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEVICE_LOST_POLICIES = ("keep", "hangup")


def volume_gain(volume: int) -> float:
    """Earpiece volume 0-100 -> linear gain: 100 = unity, 30 dB range, 0 = silent."""
    if volume <= 0:
        return 0.0
    return float(10 ** ((min(volume, 100) - 100) * 0.3 / 20))


@dataclass
class AudioSettings:
    """The [audio] config section as the bridge reads it (``Config.audio.device`` + ``.extra``)."""

    device: str = ""
    samplerate: int | None = None
    bridge_rate: int = 16000
    volume: int = 100
    ring_volume: int = 80
    country: str = "us"
    latency: str | float = "low"
    device_lost: str = "keep"  # or "hangup": what the app should do with calls when the device goes
    echo_cancel: str = "auto"  # "auto" = while hands-free (speakerphones, speaker on), "on", "off"
    linger_s: float = 1.0

    @classmethod
    def from_config(cls, config: Any) -> AudioSettings:
        section = getattr(config, "audio", None)
        if section is None and isinstance(config, dict):
            section = config.get("audio")
        if section is None:
            return cls()
        extra = dict(getattr(section, "extra", {}) or {})
        if isinstance(section, dict):
            extra = {k: v for k, v in section.items() if k != "device"} | extra
        device = getattr(section, "device", None) if not isinstance(section, dict) else section.get("device")
        s = cls(device=str(device or ""))
        for key, kind in (("samplerate", int), ("bridge_rate", int), ("volume", int), ("ring_volume", int),
                          ("country", str), ("device_lost", str), ("linger_s", float), ("echo_cancel", str)):
            if key in extra:
                try:
                    setattr(s, key, kind(extra[key]))
                except (TypeError, ValueError):
                    raise ValueError(f"[audio] {key} must be {kind.__name__}, not {extra[key]!r}") from None
        if "latency" in extra:
            s.latency = extra["latency"]
        if s.device_lost not in DEVICE_LOST_POLICIES:
            raise ValueError(f"[audio] device_lost must be one of {', '.join(DEVICE_LOST_POLICIES)}")
        if s.echo_cancel not in ("auto", "on", "off"):
            raise ValueError("[audio] echo_cancel must be auto, on or off")
        if s.bridge_rate not in (8000, 16000, 32000, 48000):
            raise ValueError("[audio] bridge_rate must be 8000, 16000, 32000 or 48000")
        return s

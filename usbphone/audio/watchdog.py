"""CallbackClock: has a sound stream stopped calling back? The stall half of device-loss detection.

A JACK server that dies, or a device that vanishes without PortAudio noticing, simply stops calling the
stream's callback. "Stopped" must mean longer than a slow but healthy stream ever pauses: with [audio]
latency "high" (large host buffers, one callback per buffer) and a busy VM, gaps of 0.4 s and more are
normal (a fixed 0.4 s limit reported device_lost in a third of such VM runs). So the limit is
``max(STALL_MIN_S, STALL_PERIODS x period)``, the period being the longest block seen (frames / rate) or the
device latency PortAudio reports, whichever is longer. No sounddevice or pjsua2 here: usbphone/audio/stream.py
ticks it from its callback, usbphone/audio/engine.py asks ``stalled(now)``. Edit for the stall policy.
"""

from __future__ import annotations

STALL_MIN_S = 0.4  # detection bound for low-latency streams (tests/test_audio_jack.py: lost within 1 s)
STALL_PERIODS = 3.0  # a healthy stream never misses three periods in a row
STARTUP_S = 0.5  # grace before the first callback (stream start, a sound server re-wiring its graph)


class CallbackClock:
    """Times of one stream's callbacks. ``tick`` runs on the audio thread, ``stalled`` on the control thread
    (plain float reads and writes: no lock needed)."""

    def __init__(self, started_at: float, latency_s: float = 0.0) -> None:
        self.started_at = started_at
        self.latency_s = max(0.0, float(latency_s))
        self.last_t: float | None = None
        self.block_s = 0.0  # the longest block seen, in seconds

    def tick(self, now: float, frames: int, rate: int) -> None:
        self.last_t = now
        block = frames / rate if rate > 0 else 0.0
        if block > self.block_s:
            self.block_s = block

    @property
    def period_s(self) -> float:
        return max(self.block_s, self.latency_s)

    @property
    def limit_s(self) -> float:
        """How long without a callback means stopped."""
        return max(STALL_MIN_S, STALL_PERIODS * self.period_s)

    def stalled(self, now: float) -> bool:
        if self.last_t is None:
            return now - self.started_at > self.limit_s + STARTUP_S
        return now - self.last_t > self.limit_s

"""Stall detection with a fake stream clock: slow but healthy callbacks ([audio] latency "high" on a busy VM)
are not a lost device; a stream that really stops is, within three periods (at least 0.4 s)."""

from __future__ import annotations

from typing import Any

from usbphone.audio.engine import AudioEngine
from usbphone.audio.stream import DuplexStream, StreamStats
from usbphone.audio.watchdog import STARTUP_S, CallbackClock

RATE = 48000


def test_low_latency_stream_keeps_the_04s_bound() -> None:
    clock = CallbackClock(started_at=100.0, latency_s=0.010)
    clock.tick(100.1, 256, RATE)  # 5.3 ms blocks
    assert clock.limit_s == 0.4
    assert not clock.stalled(100.1 + 0.39)
    assert clock.stalled(100.1 + 0.41)


def test_limit_scales_with_the_block_and_the_device_latency() -> None:
    clock = CallbackClock(started_at=0.0, latency_s=0.0)
    clock.tick(1.0, 9600, RATE)  # 200 ms blocks: one callback per host buffer
    assert abs(clock.limit_s - 0.6) < 1e-9
    assert CallbackClock(0.0, latency_s=0.25).limit_s == 0.75  # PortAudio's reported latency counts too
    clock.tick(1.2, 256, RATE)  # a smaller block later does not shrink the period
    assert abs(clock.limit_s - 0.6) < 1e-9


def test_grace_before_the_first_callback() -> None:
    clock = CallbackClock(started_at=10.0, latency_s=0.0)
    assert not clock.stalled(10.0 + 0.4 + STARTUP_S - 0.01)
    assert clock.stalled(10.0 + 0.4 + STARTUP_S + 0.01)


class FakeStream:
    """The parts of DuplexStream the engine's control step reads, on a clock the test moves by hand."""

    stalled = DuplexStream.stalled  # the real decision, on the fake clock

    def __init__(self, started_at: float, latency_s: float) -> None:
        self.clock = CallbackClock(started_at, latency_s)
        self.lost = False
        self.device_names = ("fake in", "fake out")
        self.stats = StreamStats()
        self.closed = False

    def close(self) -> bool:
        self.closed = True
        return True


def _engine_with(stream: FakeStream) -> tuple[AudioEngine, list[tuple[str, dict[str, Any]]]]:
    notes: list[tuple[str, dict[str, Any]]] = []
    engine = AudioEngine("fake", config={"audio": {"latency": "high"}},
                         notify=lambda what, data: notes.append((what, data)))
    engine._stream = stream  # noqa: SLF001 - an open stream, without PortAudio
    engine.streaming = True
    engine._calls[1] = object()  # noqa: SLF001 - a call is up: the stream is wanted
    return engine, notes


def test_slow_healthy_callbacks_are_not_a_lost_device() -> None:
    """200 ms blocks (latency "high"), callbacks up to 0.55 s apart (a loaded VM): 20 s without a fault."""
    t = 1000.0
    stream = FakeStream(t, latency_s=0.2)
    engine, notes = _engine_with(stream)
    gaps = [0.2, 0.2, 0.45, 0.05, 0.55, 0.2, 0.3]
    for i in range(100):
        stream.clock.tick(t, 9600, RATE)
        gap = gaps[i % len(gaps)]
        for step in (0.1, 0.2, 0.3, 0.4, 0.5):  # the control thread polls every 0.1 s
            if step < gap:
                engine._step(t + step)  # noqa: SLF001
        t += gap
    assert not stream.closed and engine.streaming
    assert not [n for n in notes if n[0] == "audio_fault"], notes


def test_a_stream_that_stops_is_reported_lost_within_three_periods() -> None:
    t = 1000.0
    stream = FakeStream(t, latency_s=0.2)
    engine, notes = _engine_with(stream)
    stream.clock.tick(t, 9600, RATE)
    engine._step(t + 0.59)  # noqa: SLF001
    assert not stream.closed
    engine._step(t + 0.61)  # noqa: SLF001
    assert stream.closed and not engine.streaming
    faults = [d for what, d in notes if what == "audio_fault"]
    assert [f["kind"] for f in faults] == ["device_lost"] and faults[0]["policy"] == "keep"

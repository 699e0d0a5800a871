"""Device loss. Stall detection with a fake stream clock: slow but healthy callbacks ([audio] latency "high" on
a busy VM) are not a lost device; a stream that really stops is, within three periods (at least 0.4 s).
And a real JACK server (jackd -d dummy) dying under PortAudio, in a child process (tests/audio_fault_child.py):
the process still exits 0 (PortAudio 19.6's JACK host aborts it at Pa_Terminate/Pa_CloseStream unless left
alone: usbphone/audio/jackhost.py), whether a stream was open or not, and a JACK server that comes back is
reported as ``restart_needed`` (PortAudio cannot reconnect in-process) without any PortAudio call on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
        self.on_jack = False
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


def test_a_stream_ending_at_start_up_is_reopened_quietly_and_a_failed_reopen_is_a_lost_device() -> None:
    """ALSA's pulse PCM may end a new stream in its first callbacks: re-open it, do not hang up the call."""
    t = 1000.0
    stream = FakeStream(t, latency_s=0.02)
    engine, notes = _engine_with(stream)
    engine.opened_at = t
    stream.lost = True
    engine._step(t + 0.3)  # noqa: SLF001
    assert stream.closed and [w for w, _ in notes if w == "audio_fault"] == []
    assert [w for w, _ in notes if w == "audio_restart"] == ["audio_restart"] and engine.startup_restarts == 1
    engine._step(t + 0.4)  # noqa: SLF001 - the re-open: device "fake" is not there (real PortAudio lookup)
    kinds = [d["kind"] for w, d in notes if w == "audio_fault"]
    assert kinds == ["device_lost", "open_failed"], notes


def test_early_ends_in_a_row_become_a_lost_device_after_two_reopens(monkeypatch: pytest.MonkeyPatch) -> None:
    t = 1000.0
    engine, notes = _engine_with(FakeStream(t, latency_s=0.02))
    engine.opened_at = t

    def reopen(now: float) -> None:  # a stream that opens, then ends again at once
        engine._stream, engine.opened_at, engine.streaming = FakeStream(now, 0.02), now, True  # noqa: SLF001
    monkeypatch.setattr(engine, "_open", reopen)
    for i in range(3):
        engine._stream.lost = True  # noqa: SLF001
        engine._step(t + 0.1 * (2 * i + 1))  # noqa: SLF001 - ends: re-opened quietly twice, then lost
        engine._step(t + 0.1 * (2 * i + 2))  # noqa: SLF001
    assert engine.startup_restarts == 2
    assert [d["kind"] for w, d in notes if w == "audio_fault"] == ["device_lost"], notes
    # a stream that gets going resets the count: the next one ending early is re-opened quietly again
    reopen(t + 2.0)
    for k in range(1, 13):
        engine._stream.clock.tick(t + 2.0 + 0.1 * k, 4800, RATE)  # noqa: SLF001
        engine._step(t + 2.0 + 0.1 * k)  # noqa: SLF001
    reopen(t + 4.0)
    engine._stream.lost = True  # noqa: SLF001
    engine._step(t + 4.2)  # noqa: SLF001
    assert engine.startup_restarts == 3 and len([w for w, _ in notes if w == "audio_fault"]) == 1


CHILD = Path(__file__).with_name("audio_fault_child.py")


def _child(server: Any, mode: str) -> subprocess.Popen[str]:
    env = dict(os.environ) | server.env()
    return subprocess.Popen([sys.executable, str(CHILD), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _kill_server(server: Any) -> None:
    os.killpg(server.p.pid, signal.SIGTERM)  # SIGKILL would leave JACK's shm behind
    server.p.wait(10)


def _finish(child: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    try:
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 0, f"rc {child.returncode}; stderr:\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1]), err


@pytest.mark.audio
def test_jack_server_dying_with_no_stream_open_lets_the_process_exit_cleanly(tmp_path: Path) -> None:
    """Before the fix: SIGABRT at exit (pa_jack.c:820 Terminate: Assertion `err == 0' failed)."""
    from jackd import JackServer

    server = JackServer(tmp_path, rate=48000)
    child = _child(server, "idle")
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        _kill_server(server)
        child.stdin.write("killed\n")
        child.stdin.flush()
        result, err = _finish(child)
    finally:
        server.stop()
    assert "JACK server" in result["stuck"], result  # no re-initialisation after the server's death
    assert result["refreshed"] is False
    assert "Assertion" not in err


@pytest.mark.audio
def test_jack_server_coming_back_is_reported_and_the_process_exits_cleanly(tmp_path: Path) -> None:
    from jackd import JackServer

    server = JackServer(tmp_path, rate=48000)
    child = _child(server, "return")
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "streaming"
        _kill_server(server)
        child.stdin.write("killed\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "lost"
        server._log.close()  # noqa: SLF001 - the same server name again, as a restarted jackd would be
        assert server._start(), "jackd did not start again"  # noqa: SLF001
        child.stdin.write("back\n")
        child.stdin.flush()
        result, err = _finish(child)
    finally:
        server.stop()
    kinds = [(d["kind"], t) for t, what, d in result["notes"] if what == "audio_fault"]
    assert kinds[0][0] == "device_lost" and kinds[0][1] < 1.0, result
    assert "restart_needed" in [k for k, _ in kinds], result
    assert result["close_s"] < 0.5  # the dead stream is left alone, not waited for
    assert "Assertion" not in err
    # no PortAudio open was tried on the dead JACK client (it logs these when one is)
    assert "jack_port_register" not in err, err[-2000:]
    print(f"restart_needed {result['back_s']:.1f} s after the server came back")

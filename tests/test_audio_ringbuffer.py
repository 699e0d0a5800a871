"""DriftBuffer: a simulated 10-minute call between two clocks 0.1 % apart, faster than real time.

The producer writes a ramp (each sample's value = its index), so every sample read back tells when it was
written: the wait of each sample in the buffer is measured exactly, not estimated.
"""

from __future__ import annotations

import numpy as np
import pytest

from usbphone.audio.ringbuffer import DriftBuffer

RATE = 16000  # the bridge's port rate


def bursty(count: int, period: float, burst: int, jitter_s: float, rng: np.random.Generator) -> np.ndarray:
    """Event times: ``burst`` events back to back every ``burst * period`` s (a sound server that wakes late)."""
    i = np.arange(count)
    group = i // burst
    return group * burst * period + rng.uniform(0, jitter_s, count // burst + 1)[group] + (i % burst) * 1e-5


def simulate(
    *, block_in: int, block_out: int, offset: float, seconds: float = 600.0, jitter_s: float = 0.001, seed: int = 7,
    read_burst: int = 1, write_burst: int = 1,
) -> tuple[DriftBuffer, np.ndarray, int]:
    """Producer writes ``block_in`` samples at RATE*(1+offset), consumer reads ``block_out`` at RATE.

    Returns the buffer, rows of (read time, mean wait of the samples read, max wait) and the underruns
    counted between 5 s and the end of the run.
    """
    rng = np.random.default_rng(seed)
    buf = DriftBuffer(RATE)
    t_in, t_out = block_in / (RATE * (1 + offset)), block_out / RATE
    w_times = bursty(int(seconds / t_in), t_in, write_burst, jitter_s, rng)
    r_times = bursty(int(seconds / t_out), t_out, read_burst, jitter_s, rng) + 0.0037
    events = sorted([(t, 0, i) for i, t in enumerate(w_times)] + [(t, 1, i) for i, t in enumerate(r_times)])
    rows, underruns_at_5s, underruns_at_end = [], None, None
    buf.settled = None  # type: ignore[attr-defined]
    for t, kind, i in events:
        if underruns_at_end is None and t > seconds - 0.25:  # the producer's last write is near: stop counting
            underruns_at_end = buf.stats.underruns
        if kind == 0:
            buf.write(np.arange(i * block_in, (i + 1) * block_in, dtype=np.float64).astype(np.float32), now=t)
            continue
        if underruns_at_5s is None and t > 5.0:
            underruns_at_5s = buf.stats.underruns
        if buf.settled is None and t > 20.0:  # type: ignore[attr-defined]
            buf.settled = buf.stats.squeezed + buf.stats.stretched  # type: ignore[attr-defined]
        out = buf.read(block_out, now=t)
        real = out[out > 0]
        if real.size:
            waits = t - w_times[np.minimum(real.astype(np.int64) // block_in, w_times.size - 1)]
            rows.append((t, waits.mean(), waits.max()))
    end = buf.stats.underruns if underruns_at_end is None else underruns_at_end
    return buf, np.array(rows), end - (underruns_at_5s or 0)


@pytest.mark.parametrize("offset", [0.001, -0.001])
@pytest.mark.parametrize(
    ("block_in", "block_out"),
    [(160, 320), (320, 160), (80, 320), (320, 320)],
    ids=["dev10ms->call20ms", "call20ms->dev10ms", "dev5ms->call20ms", "20ms->20ms"],
)
def test_ten_minute_call_stays_bounded(block_in: int, block_out: int, offset: float) -> None:
    buf, rows, late_underruns = simulate(block_in=block_in, block_out=block_out, offset=offset)
    assert late_underruns == 0
    assert buf.stats.overflows == 0 and buf.stats.resyncs == 0
    # the whole offset is corrected: 0.1 % of 10 minutes at 16 kHz = 9600 samples
    corrected = buf.stats.squeezed - buf.stats.stretched
    expected = offset * RATE * 600
    assert abs(corrected - expected) < 0.1 * abs(expected), (corrected, expected)
    first = rows[(rows[:, 0] > 5) & (rows[:, 0] < 65)]
    last = rows[rows[:, 0] > 540]
    # bounded: the mean wait of a sample in the bridge stays under 2 frames (40 ms) and does not grow
    assert last[:, 1].mean() < 0.040 and first[:, 1].mean() < 0.040
    assert abs(last[:, 1].mean() - first[:, 1].mean()) < 0.005
    assert last[:, 2].max() < 0.060
    assert buf.stats.max_level < 0.070 * RATE


def test_no_offset_needs_no_correction_beyond_settling() -> None:
    buf, rows, late_underruns = simulate(block_in=160, block_out=320, offset=0.0, seconds=120)
    assert late_underruns == 0
    assert buf.settled < 0.03 * RATE  # type: ignore[attr-defined]  # settling at start: < 30 ms
    assert buf.stats.squeezed + buf.stats.stretched - buf.settled < 0.002 * RATE  # type: ignore[attr-defined]


def test_stalled_consumer_is_cut_back_and_underrun_pads_silence() -> None:
    buf = DriftBuffer(RATE)
    t = 0.0
    for _ in range(30):  # 300 ms written while nobody reads (a stalled reader)
        buf.write(np.full(160, 0.5, dtype=np.float32), now=t)
        t += 0.01
    out = buf.read(320, now=t)
    assert buf.stats.resyncs == 1 and len(buf) < 0.060 * RATE
    assert np.allclose(out, 0.5)
    for _ in range(5):  # producer stops: reads drain, then pad with silence and count underruns
        t += 0.02
        out = buf.read(320, now=t)
    assert buf.stats.underruns >= 1 and out.shape == (320,) and np.all(out == 0)


def test_int16_input_and_overflow_are_handled() -> None:
    buf = DriftBuffer(8000, capacity_s=0.1)  # 800 samples
    buf.write(np.full(500, 16384, dtype=np.int16), now=0.0)
    buf.write(np.full(500, -16384, dtype=np.int16), now=0.001)
    assert buf.stats.overflows == 1 and len(buf) == 800
    out = buf.read(160, now=0.002)
    assert out.dtype == np.float32 and out.shape == (160,)
    assert np.all(np.abs(out) <= 0.5)


def test_silence_until_primed() -> None:
    buf = DriftBuffer(RATE)
    assert not np.any(buf.read(320, now=0.0))
    buf.write(np.ones(100, dtype=np.float32), now=0.0)
    assert not np.any(buf.read(320, now=0.001))
    assert buf.stats.underruns == 0


@pytest.mark.parametrize("offset", [0.001, -0.001])
def test_bursty_sound_server_settles_without_further_gaps(offset: float) -> None:
    """JACK's dummy driver here wakes every ~30 ms and runs 3 periods at once (measured in test_audio_jack)."""
    buf, rows, _ = simulate(block_in=320, block_out=160, offset=offset, read_burst=3, seconds=300)
    early = buf.stats.underruns
    assert early <= 5  # the first bursts teach the buffer how bursty the reader is
    buf2, rows2, late = simulate(block_in=160, block_out=320, offset=offset, write_burst=3, seconds=300)
    assert buf2.stats.underruns <= 5
    for r in (rows, rows2):
        first, last = r[(r[:, 0] > 20) & (r[:, 0] < 80)], r[r[:, 0] > 240]
        assert last[:, 1].mean() < 0.080 and abs(last[:, 1].mean() - first[:, 1].mean()) < 0.010


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_reads_while_stretching_return_samples(n: int) -> None:
    """A sound server (PulseAudio's ALSA plugin) may ask for 1-3 frames; a stretch must still consume one
    sample (interpolating from none raised inside the callback)."""
    buf = DriftBuffer(RATE)
    t = 0.0
    for _ in range(200):
        buf.write(np.full(160, 0.5, dtype=np.float32), now=t)
        t += 0.01
        buf.read(160, now=t)
    buf._pending = -40.0  # the window found the buffer short: stretch
    for _ in range(20):
        out = buf.read(n, now=t)
        assert out.shape == (n,) and out.dtype == np.float32
    assert buf.stats.stretched > 0 or n == 1

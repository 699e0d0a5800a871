"""speexdsp echo cancellation (real libspeexdsp): echo removed, the near-end talker kept, any block size."""

from __future__ import annotations

import numpy as np
import pytest

from usbphone.audio import echo

pytestmark = pytest.mark.skipif(not echo.available(), reason="libspeexdsp1 not installed (tools/setup.sh)")

RATE = 16000


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def room(seconds: float, near_from: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Far-end noise, its echo (30 ms, -6 dB, a little reverb) in the microphone, near-end 600 Hz later on."""
    rng = np.random.default_rng(3)
    n = int(RATE * seconds)
    far = (rng.standard_normal(n) * 0.1).astype(np.float32)
    d = int(0.030 * RATE)
    echo_ = np.zeros(n, dtype=np.float32)
    echo_[d:] = 0.5 * far[:-d]
    echo_[d + 80:] += 0.2 * far[:-d - 80]
    near = (0.1 * np.sin(2 * np.pi * 600 * np.arange(n) / RATE)).astype(np.float32)
    near[: int(RATE * near_from)] = 0
    return far, echo_ + near, near


@pytest.mark.parametrize("block", [160, 480, 333])
def test_echo_is_removed_and_near_end_kept(block: int) -> None:
    far, mic, near = room(8.0, near_from=4.0)
    ec = echo.EchoCanceller(RATE)
    out = np.concatenate([ec.process(mic[i:i + block], far[i:i + block]) for i in range(0, mic.size, block)])
    assert out.size == mic.size
    echo_only = slice(2 * RATE, 4 * RATE)  # after 2 s of convergence, before the near end talks
    reduction = 20 * np.log10(rms(out[echo_only]) / rms(mic[echo_only]))
    assert reduction < -20, reduction
    talk = out[6 * RATE:]
    spec = np.abs(np.fft.rfft(talk * np.hanning(talk.size)))
    assert np.fft.rfftfreq(talk.size, 1 / RATE)[np.argmax(spec)] == pytest.approx(600, abs=2)
    assert 20 * np.log10(rms(talk) / rms(near[6 * RATE:])) > -10  # the talker is not suppressed away
    ec.close()

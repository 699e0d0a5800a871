"""Tone rendering: frequencies and cadences measured numerically on the rendered samples."""

from __future__ import annotations

import numpy as np
import pytest

from usbphone.audio.tones import DTMF_FREQS, ToneRenderer, ToneSpec, dtmf_spec, tone_spec


def peaks(x: np.ndarray, rate: int, count: int) -> list[float]:
    """The ``count`` strongest spectral peaks (Hz), at least 40 Hz apart."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    found: list[float] = []
    for i in np.argsort(spec)[::-1]:
        if all(abs(freqs[i] - f) > 40 for f in found):
            found.append(float(freqs[i]))
        if len(found) == count:
            break
    return sorted(found)


def segments(x: np.ndarray, rate: int) -> list[tuple[bool, float]]:
    """Run lengths (ms) of sound/silence using a 5 ms RMS envelope (440+480 Hz beats at 40 Hz)."""
    win = rate // 200
    env = np.sqrt(np.mean(x[: x.size // win * win].reshape(-1, win) ** 2, axis=1)) > 0.01
    runs, start = [], 0
    for i in range(1, env.size + 1):
        if i == env.size or env[i] != env[start]:
            runs.append((bool(env[start]), float(i - start) * 5))
            start = i
    return runs


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize(
    ("country", "name", "freqs", "on_ms", "off_ms"),
    [
        ("us", "busy", [480, 620], 500, 500),
        ("us", "reorder", [480, 620], 250, 250),
        ("us", "ringback", [440, 480], 2000, 4000),
        ("de", "busy", [425], 480, 480),
        ("de", "ringback", [425], 1000, 4000),
        ("uk", "busy", [400], 375, 375),
    ],
)
def test_cadenced_tones(rate: int, country: str, name: str, freqs: list[int], on_ms: int, off_ms: int) -> None:
    r = ToneRenderer(tone_spec(name, country), rate)
    period = (on_ms + off_ms) * rate // 1000
    x = np.concatenate([r.render(n) for n in (37, 1000, 160) * (2 * period // 1197 + 1)])[: 2 * period]
    runs = segments(x, rate)
    assert [on for on, _ in runs[:4]] == [True, False, True, False]
    for on, ms in runs[:4]:
        assert abs(ms - (on_ms if on else off_ms)) <= 5, runs
    on_part = x[: on_ms * rate // 1000]
    for got, want in zip(peaks(on_part, rate, len(freqs)), freqs, strict=True):
        assert abs(got - want) <= want * 0.01
    assert np.max(np.abs(x)) < 0.5


def test_dial_tone_is_continuous_and_phase_continuous_across_chunks() -> None:
    rate = 8000
    whole = ToneRenderer(tone_spec("dial", "us"), rate).render(3 * rate)
    r = ToneRenderer(tone_spec("dial", "us"), rate)
    chunked = np.concatenate([r.render(n) for n in [160] * 100 + [333] * 24 + [8]])
    assert np.allclose(whole[: chunked.size], chunked, atol=1e-6)
    assert segments(whole, rate)[0] == (True, 3000.0)
    assert peaks(whole[rate:], rate, 2) == pytest.approx([350, 440], abs=2)


def test_call_waiting_de_double_beep() -> None:
    rate = 16000
    x = ToneRenderer(tone_spec("call_waiting", "de"), rate).render(6 * rate)
    runs = segments(x, rate)
    assert [(on, round(ms / 10) * 10) for on, ms in runs[:4]] == [(True, 200), (False, 200), (True, 200), (False, 5000)]


def test_level_follows_the_plan_in_dbm0() -> None:
    x = ToneRenderer(tone_spec("dial", "de"), 8000).render(8000)[800:]
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) * np.sqrt(2))  # sine peak level
    assert rms_dbfs == pytest.approx(-13.0 - 3.14, abs=0.1)  # -13 dBm0 (phone/tones.py), G.711 offset


def test_japan_ringback_is_amplitude_modulated() -> None:
    rate = 8000
    x = ToneRenderer(tone_spec("ringback", "jp"), rate).render(rate)  # 1 s on
    env = np.abs(x).reshape(-1, 80).max(axis=1)  # 10 ms peaks: a 15 Hz envelope
    assert env.max() > 5 * env.min() and peaks(x, rate, 1) == pytest.approx([400], abs=20)


def test_speaker_ring_warbles() -> None:
    rate = 16000
    x = ToneRenderer(tone_spec("ring"), rate).render(rate)
    assert peaks(x, rate, 2) == pytest.approx([1000, 1250], abs=5)
    assert segments(ToneRenderer(tone_spec("ring"), rate).render(3 * rate), rate)[-1][0] is False


def test_dtmf_feedback_plays_once() -> None:
    rate = 8000
    r = ToneRenderer(dtmf_spec("5"), rate)
    x = r.render(rate // 10)
    assert r.done
    assert peaks(x, rate, 2) == pytest.approx(list(DTMF_FREQS["5"]), abs=15)
    assert not np.any(r.render(160))


def test_confirm_is_three_beeps_then_silence() -> None:
    rate = 8000
    r = ToneRenderer(tone_spec("confirm", "us"), rate)
    runs = segments(r.render(rate), rate)
    assert [on for on, _ in runs] == [True, False, True, False, True, False]
    assert r.done


def test_gain_scales_level() -> None:
    full = ToneRenderer(tone_spec("dial", "de"), 8000).render(800)
    half = ToneRenderer(tone_spec("dial", "de"), 8000, gain=0.5).render(800)
    assert np.allclose(half, full * 0.5, atol=1e-6)


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tone"):
        tone_spec("nonsense")
    with pytest.raises(ValueError, match="country"):
        tone_spec("dial", "atlantis")
    with pytest.raises(ValueError, match="positive duration"):
        ToneSpec.of([((440,), 0, 0)])
    with pytest.raises(ValueError, match="DTMF"):
        dtmf_spec("x")

"""AudioBridge policy without a sound server: settings, volume, and a missing device failing soft."""

from __future__ import annotations

import time

import pytest
from peers import wait_for

from usbphone.audio.settings import AudioSettings, volume_gain
from usbphone.config import parse_config
from usbphone.sip.audio import AudioBridge


def test_settings_from_the_config_file_section() -> None:
    cfg = parse_config({"audio": {"device": "hw:CARD=P1K", "samplerate": 8000, "volume": 60, "country": "de",
                                  "device_lost": "hangup"}})
    s = AudioSettings.from_config(cfg)
    assert (s.device, s.samplerate, s.volume, s.country, s.device_lost) == ("hw:CARD=P1K", 8000, 60, "de", "hangup")
    assert AudioSettings.from_config(None) == AudioSettings()
    with pytest.raises(ValueError, match="device_lost"):
        AudioSettings.from_config(parse_config({"audio": {"device_lost": "explode"}}))
    with pytest.raises(ValueError, match="volume must be int"):
        AudioSettings.from_config(parse_config({"audio": {"volume": "loud"}}))
    with pytest.raises(ValueError, match="bridge_rate"):
        AudioSettings.from_config(parse_config({"audio": {"bridge_rate": 11025}}))


def test_cli_device_wins_over_config() -> None:
    cfg = parse_config({"audio": {"device": "pulse"}})
    assert AudioBridge("system", None, cfg).device == "system"
    assert AudioBridge(None, None, cfg).device == "pulse"
    assert AudioBridge(None, 8000, None).samplerate == 8000


def test_call_audio_device_keeps_the_config_audio_keys(tmp_path) -> None:
    """`usbphone call --audio-device NAME`: the name wins, every other [audio] key still comes from the file."""
    from usbphone.commands.sipcli import audio_hook
    from usbphone.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[audio]\ndevice = "pulse"\nbridge_rate = 8000\nvolume = 40\nlatency = "high"\n'
                   'echo_cancel = "on"\ncountry = "de"\nlinger_s = 0.25\n')
    bridge = audio_hook("system", load_config(cfg))
    try:
        s = bridge.settings
        assert bridge.device == "system" and s.bridge_rate == 8000
        from usbphone.sip.pjconfig import endpoint_config

        assert endpoint_config(load_config(cfg)).medConfig.clockRate == 8000  # the conference clock
        assert (s.volume, s.latency, s.echo_cancel, s.country, s.linger_s) == (40, "high", "on", "de", 0.25)
        assert bridge.stats()["device"] == "system"
    finally:
        bridge.close()


def test_volume_curve() -> None:
    assert volume_gain(100) == 1.0 and volume_gain(0) == 0.0
    assert volume_gain(50) == pytest.approx(10 ** (-15 / 20))
    assert volume_gain(150) == 1.0
    gains = [volume_gain(v) for v in range(0, 101, 10)]
    assert gains == sorted(gains)


def test_missing_device_is_reported_once_and_retried_without_raising() -> None:
    notes: list[tuple[str, dict]] = []
    bridge = AudioBridge("no-such-sound-device", notify=lambda what, data: notes.append((what, data)))
    try:
        bridge.play_tone("dial")
        wait_for(lambda: bridge.faults >= 2, 10, what="a retry")  # 0.5 s, then 1 s backoff
        assert not bridge.streaming
        faults = [d for w, d in notes if w == "audio_fault"]
        assert len(faults) == 1 and faults[0]["kind"] == "open_failed"
        assert "no-such-sound-device" in faults[0]["message"]
        bridge.stop_tone()
    finally:
        t = time.monotonic()
        bridge.close()
        assert time.monotonic() - t < 2


def test_unknown_tone_is_a_caller_error() -> None:
    bridge = AudioBridge("x")
    with pytest.raises(ValueError, match="unknown tone"):
        bridge.play_tone("fanfare")
    bridge.close()

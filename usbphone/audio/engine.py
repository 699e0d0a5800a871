"""The sound-card half of the audio bridge: stream control, local tones, echo cancellation, health.

``AudioEngine`` owns the Phone's current tone and a control thread that opens the duplex stream
(usbphone/audio/stream.py) when a call or a tone needs it, closes it ``linger_s`` after the last one ends,
notices a lost device (unplug, PortAudio error, no callbacks for three periods and at least 0.4 s:
audio/watchdog.py) within 0.7 s on a low-latency stream, and retries a busy or missing device with backoff
(0.5 s doubling to 8 s), reporting each fault once through ``notify`` (``audio_fault`` with ``kind`` and, for
``device_lost``, the [audio] ``device_lost`` policy "keep"/"hangup" for the app to apply). A stream that ends
within its first second (a sound server's PCM at start-up) is re-opened quietly, at most twice in a row
(``audio_restart``), rather than reported as a lost device. A stream PortAudio cannot stop is abandoned
rather than blocking anything; one on a JACK server that died is abandoned at once and the JACK host is not
tried again (PortAudio 19.6 aborts the process if asked to close or re-initialise it:
usbphone/audio/jackhost.py), so retries then only probe whether a JACK server is back, and say once
(``restart_needed``) that its devices return when usbphone restarts; other devices (ALSA, the sound server's
PCM) still open. Opening is slow (tens of ms, more on JACK), hence the thread. No pjsua2 import here: the
conference-bridge side (``_conf_port``: the handset's port at the stream's rate, which the stream clocks) is
usbphone/sip/audio.py. Edit this module for the bridge's policy.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from usbphone.audio.jackhost import JACK
from usbphone.audio.settings import AudioSettings, volume_gain
from usbphone.audio.tones import ToneRenderer, ToneSpec, dtmf_spec, tone_spec

log = logging.getLogger("usbphone.audio")
STARTUP_RESTART_S = 1.0  # a stream that ends sooner than this after opening is re-opened quietly ...
STARTUP_RESTARTS_MAX = 2  # ... this many times in a row; then it is a lost device like any other
# the stall watchdog's poll once a stream runs: a stopped stream is seen within its stall limit (0.4 s on a
# low-latency stream, audio/watchdog.py) + this; PortAudio ending one wakes the thread at once
WATCH_S = 0.25


class AudioEngine:
    """Sound card, buffers, tones and the control thread; ``device`` (CLI/config name) wins over
    ``handset_syspath`` (sysfs match). Subclassed by usbphone.sip.audio.AudioBridge for the pjsua2 side."""

    def __init__(self, device: str | None, samplerate: int | None = None, config: Any = None, *,
                 handset_syspath: str | None = None, notify: Callable[[str, dict[str, Any]], None] | None = None,
                 ) -> None:
        self.settings = AudioSettings.from_config(config)
        self.device = device if device else (self.settings.device or None)
        self.samplerate = samplerate or self.settings.samplerate
        self.handset_syspath = handset_syspath
        self._notify = notify
        self._calls: dict[int, Any] = {}  # call id -> its media (kept by the pjsua2 side)
        self._tone: tuple[ToneSpec, float] | None = None
        self._renderer: ToneRenderer | None = None
        self._volume = self.settings.volume
        self._gain = volume_gain(self._volume)
        self._stream: Any = None  # DuplexStream
        self.streaming = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._idle_since: float | None = None
        self._retry_at = 0.0
        self._backoff = 0.5
        self._last_fault = ""
        self.opened_at: float | None = None
        self.startup_restarts = 0  # streams that ended in their first second and were re-opened quietly
        self._reopening: str | None = None  # the device of such a re-open, while it is pending
        self._startup_restarts = 0  # ... in a row (reset by a stream that outlives its first second)
        self.history: list[dict[str, Any]] = []  # one summary per stream opened (xruns, buffer stats)
        self.hands_free = False
        self.faults = 0

    # --- the app's commands -------------------------------------------------------------------------

    def play_tone(self, name: str) -> None:
        """Render a Phone ``tone`` into the earpiece (``off`` = stop); ``ring`` = speaker ring; ``dtmf:5``."""
        if name == "off":
            self.stop_tone()
            return
        if name.startswith("dtmf:"):
            spec, gain = dtmf_spec(name[5:]), self._gain
        elif name == "ring":
            spec, gain = tone_spec("ring"), volume_gain(self.settings.ring_volume)
        else:
            spec, gain = tone_spec(name, self.settings.country), self._gain
        self._tone = (spec, gain)
        self._start_thread()
        self._wake.set()

    def stop_tone(self) -> None:
        self._tone = None
        self._wake.set()

    def set_volume(self, volume: int) -> None:
        self._volume = max(0, min(100, int(volume)))
        self._gain = volume_gain(self._volume)
        if self._tone is not None and self._tone[0] is not tone_spec("ring"):
            self._tone = (self._tone[0], self._gain)

    def use_handset(self, syspath: str | None) -> None:
        """The handset's sysfs node (hidraw/USB interface) changed (attach/detach): its sound card is looked
        up at the next stream open. Ignored while a device name was given (CLI/config wins)."""
        self.handset_syspath = syspath
        if syspath and self.streaming and not self.device:
            self._tell("audio_notice", {"message": "the handset's own sound card is used from the next call or "
                                                   "tone (PortAudio re-scans only when no stream is open)"})
        self._wake.set()

    def set_hands_free(self, on: bool) -> None:
        """Speaker mode (``speaker on|off`` commands; speakerphones are always hands-free): with
        ``echo_cancel = "auto"`` this switches the echo canceller on and off, at once if a stream runs."""
        self.hands_free = bool(on)
        self._apply_echo(self._stream)

    def _echo_wanted(self) -> bool:
        mode = self.settings.echo_cancel
        return mode == "on" or (mode == "auto" and self.hands_free)

    def _apply_echo(self, s: Any) -> None:
        if s is None:
            return
        from usbphone.audio import echo

        if not self._echo_wanted():
            s.echo = None
        elif s.echo is None:
            try:
                s.echo = echo.EchoCanceller(s.samplerate)
            except RuntimeError as exc:
                self._fault("echo_unavailable", f"echo cancellation is off: {exc}")

    def set_ring_volume(self, volume: int) -> None:
        self.settings.ring_volume = max(0, min(100, int(volume)))

    # --- introspection (event log, `usbphone doctor`) ---------------------------------------------------

    def stats(self) -> dict[str, Any]:
        s = self._stream
        out: dict[str, Any] = {
            "device": self.device or "(handset/default)",
            "streaming": self.streaming,
            "calls": len(self._calls),
            "faults": self.faults,
            "startup_restarts": self.startup_restarts,
        }
        if s is not None:
            out["stream"] = s.stats.as_dict() | {"samplerate": s.samplerate, "names": s.device_names,
                                                 "device_latency_s": s.latency_s}
            if s.port is not None:
                out["port"] = {"rate": s.port.rate, "slot": s.port.slot, "blocks": s.port.blocks,
                               "errors": s.port.errors}
            out["echo_cancel"] = s.echo is not None
        if self.history:
            out["history"] = list(self.history)
        st = sys.modules.get("usbphone.audio.stream")  # not imported here: that would initialise PortAudio
        stuck = st.portaudio_stuck() if st is not None else ""
        if stuck:
            out["portaudio_stuck"] = stuck  # e.g. its JACK server died: those devices need a restart
        return out

    # --- control thread (never touches pjsua2) --------------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="usbphone-audio", daemon=True)
            self._thread.start()

    def _wanted(self) -> bool:
        return bool(self._calls) or self._tone is not None

    def _run(self) -> None:
        try:  # warm up: importing sounddevice initialises PortAudio (device scan: 100s of ms), do it now,
            from usbphone.audio import stream  # noqa: F401  not when the handset is lifted
        except Exception as exc:  # noqa: BLE001 - no PortAudio: said when a stream is wanted
            log.debug("audio warm-up: %s", exc)
        while not self._stop:
            self._wake.wait(self._poll_s(time.monotonic()))
            self._wake.clear()
            try:
                self._step(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - the control thread must survive anything
                self._fault("error", f"audio control: {type(exc).__name__}: {exc}")

    def _poll_s(self, now: float) -> float | None:
        """How long the control thread may sleep: idle (no stream, none wanted) until woken by a call, a tone, a
        handset change, PortAudio ending a stream or stop(); 0.1 s while a stream starts (its first two seconds:
        start-up re-opens) or one is wanted (retries); then WATCH_S for the stall watchdog and the linger."""
        if self._stream is None:
            return 0.1 if self._wanted() else None
        return 0.1 if self.opened_at is None or now - self.opened_at < 2 * STARTUP_RESTART_S else WATCH_S

    def _step(self, now: float) -> None:
        s = self._stream
        if s is not None and (s.lost or s.stalled(now)) and self._restart_at_startup(s, now):
            return
        if s is not None and self.opened_at is not None and now - self.opened_at > STARTUP_RESTART_S:
            self._startup_restarts = 0  # this one got going
        if s is not None and (s.lost or s.stalled(now)):
            self.streaming = False
            self._fault("device_lost", f"sound device {s.device_names[1]!r} stopped (unplugged or host error)",
                        policy=self.settings.device_lost)
            self._close_stream("lost")
            self._retry_at = now + self._backoff
        if self._wanted():
            self._idle_since = None
            if self._stream is None and now >= self._retry_at:
                self._open(now)
        elif self._stream is not None:
            self._idle_since = self._idle_since or now
            if now - self._idle_since >= self.settings.linger_s:
                self._close_stream("idle")

    def _restart_at_startup(self, s: Any, now: float) -> bool:
        """A stream that ends within its first second is re-opened quietly (at most twice in a row), not
        reported as a lost device (whose "hangup" policy would end the call): ALSA's pulse PCM fails a new
        stream's first callbacks before the server has timing data (alsa-project/alsa-plugins#65) and
        PortAudio 19.6 takes that as the end of the stream (PortAudio/portaudio#758)."""
        if self.opened_at is None or now - self.opened_at > STARTUP_RESTART_S:  # (_step resets the count)
            return False
        if self._startup_restarts >= STARTUP_RESTARTS_MAX:
            return False
        from usbphone.audio import stream as st

        if s.on_jack and st.jack_host_dead():  # the server is gone: a lost device, not a start-up glitch
            return False
        self._startup_restarts += 1
        self.startup_restarts += 1
        log.info("audio: stream on %s ended at start-up; re-opening it (%d)", s.device_names[1],
                 self._startup_restarts)
        self._close_stream("ended at start-up")
        self._retry_at = now
        self._reopening = s.device_names[1]  # if the re-open fails, the device is lost after all
        self._tell("audio_restart", {"devices": list(s.device_names), "attempt": self._startup_restarts})
        return True

    def _open(self, now: float) -> None:
        from usbphone.audio import stream as st

        reopening, self._reopening = self._reopening, None
        try:
            device, rate = self._choose_device(st)
            self._renderer = None
            port = self._conf_port(rate)
            self._stream = st.DuplexStream(device, rate, port, mix=self._mix, gain=lambda: self._gain,
                                           latency=self.settings.latency, capture=lambda: bool(self._calls),
                                           on_end=self._wake.set)
        except Exception as exc:  # noqa: BLE001 - JackHostGone, PortAudioError, AudioDeviceError, ValueError
            if reopening is not None:
                self._fault("device_lost", f"sound device {reopening!r} stopped (unplugged or host error)",
                            policy=self.settings.device_lost)
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, 8.0)
            if not isinstance(exc, st.JackHostGone):
                self._fault("open_failed", _explain(exc, self.device))
            elif JACK.server_running():  # a cheap probe: never PortAudio, whose JACK client is the dead one
                self._fault("restart_needed", f"a JACK server is running again, but {exc}")
            else:
                self._fault("open_failed", f"cannot open sound device {self.device or '(handset/default)'}: {exc}")
            return
        self._apply_echo(self._stream)
        self.streaming = True
        self.opened_at = now
        self._backoff = 0.5
        self._last_fault = ""
        s = self._stream
        log.info("audio: streaming on %s / %s at %d Hz", *s.device_names, s.samplerate)
        self._tell("audio_open", {"devices": list(s.device_names), "samplerate": s.samplerate,
                                  "channels": list(s.channels)})

    def _conf_port(self, rate: int) -> Any:
        """The handset's port in the conference bridge at ``rate`` with the current calls connected to it
        (usbphone/sip/audio.py); None here: an engine with no SIP endpoint plays local tones only."""
        return None

    def _choose_device(self, st: Any) -> tuple[tuple[int, int], int]:
        import sounddevice as sd

        from usbphone.audio import devices as dv

        listing = [dict(d) for d in sd.query_devices()]
        default = tuple(int(x) for x in sd.default.device)
        card = None
        if self.device:
            pair = dv.resolve(self.device, listing, default)  # type: ignore[arg-type]
        elif self.handset_syspath and (card := dv.card_for_handset(self.handset_syspath)) is not None:
            idx = dv.portaudio_index(card, listing)
            if idx is None and st.refresh_devices():  # plugged in after PortAudio started
                listing = [dict(d) for d in sd.query_devices()]
                idx = dv.portaudio_index(card, listing)
            if idx is None:  # PortAudio leaves out a hw device it cannot open: one a sound server holds
                idx = dv.route_through_server(card, listing, os.environ)  # type: ignore[arg-type]
                if idx is not None:
                    return (idx, idx), self.samplerate or int(listing[idx]["default_samplerate"])
            if idx is None:
                why = st.portaudio_stuck() or "it re-scans when no stream is open"
                raise dv.AudioDeviceError(f"the handset's sound card {card.hw} ({card.id}) is not in PortAudio's "
                                          f"list yet ({why})")
            pair = (idx, idx)
        else:
            pair = dv.resolve(None, listing, default)  # type: ignore[arg-type]
        rate = self.samplerate
        if rate is None and card is not None:
            rate = dv.native_rate(dv.card_rates(card))
        if rate is None:
            rate = int(listing[pair[1]]["default_samplerate"])
        if card is not None and self._busy(pair, rate, sd):
            routed = dv.route_through_server(card, listing, os.environ)  # type: ignore[arg-type]
            if routed is not None:  # (route_through_server says so, once)
                pair = (routed, routed)
        return pair, rate

    @staticmethod
    def _busy(pair: tuple[int, int], rate: int, sd: Any) -> bool:
        try:
            sd.check_output_settings(device=pair[1], samplerate=rate, channels=1)
            return False
        except sd.PortAudioError as exc:
            return "unavailable" in str(exc).lower() or "busy" in str(exc).lower()
        except ValueError:
            return False

    def _mix(self, frames: int, rate: int) -> np.ndarray | None:
        """Local tone samples for the earpiece (PortAudio thread); None when no tone plays."""
        tone = self._tone
        if tone is None:
            return None
        r = self._renderer
        if r is None or r.spec is not tone[0] or r.rate != rate:
            r = self._renderer = ToneRenderer(tone[0], rate, tone[1])
        r.gain = tone[1]
        out = r.render(frames)
        if r.done and self._tone is tone:
            self._tone = None
            self._wake.set()
        return out

    def stop(self) -> None:
        """Stop the control thread and the stream (the pjsua2 side then drops its port)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_stream("closed")
        with self._lock:
            self._calls.clear()

    def _close_stream(self, why: str) -> None:
        s, self._stream = self._stream, None
        self.streaming = False
        if s is None:
            return
        closed = s.close()
        summary = {"why": why, "closed_cleanly": closed, "seconds": round(time.monotonic() - (self.opened_at or 0), 2),
                   **s.stats.as_dict()}
        self.history = (self.history + [summary])[-10:]
        log.info("audio: stream closed (%s): %d xruns, %d callback errors", why, s.stats.xruns, s.stats.errors)
        self._tell("audio_closed", summary)

    def _fault(self, kind: str, message: str, **extra: Any) -> None:
        self.faults += 1
        if message != self._last_fault:  # say it once, not every retry
            log.warning("audio: %s", message)
            self._last_fault = message
            self._tell("audio_fault", {"kind": kind, "message": message, **extra})

    def _tell(self, what: str, data: dict[str, Any]) -> None:
        if self._notify is None:
            return
        try:
            self._notify(what, data)
        except Exception as exc:  # noqa: BLE001
            log.error("audio notify failed: %s", exc)

def _explain(exc: Exception, device: str | None) -> str:
    text = str(exc)
    if "unavailable" in text.lower() or "busy" in text.lower():
        return (f"sound device {device or ''} is busy (held by another program or a desktop sound server); "
                "retrying; or pick the server's device with --audio-device pulse")
    return f"cannot open sound device {device or '(handset/default)'}: {text}"

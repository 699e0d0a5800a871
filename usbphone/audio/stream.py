"""The sound-card side of the bridge: one duplex sounddevice stream at the device's native rate.

Each PortAudio callback (its own real-time thread) does three things and nothing else:
  microphone block -> soxr resampler (device rate -> bridge rate) -> ``uplink`` DriftBuffer (read by pjmedia),
  ``downlink`` DriftBuffer (written by pjmedia) -> soxr resampler (bridge rate -> device rate) -> earpiece,
  plus ``mix(n, rate)`` (local tones, rendered at the device rate) added to the earpiece at ``gain``,
  and, when ``echo`` is set (hands-free), the microphone cleaned of what the speaker just played.
It never raises: PortAudio status flags are counted as xruns, any exception is counted in ``errors`` and the
block is played as silence. ``DuplexStream.lost`` becomes true when PortAudio stops the stream by itself
(device unplugged, host error), which the bridge's control thread notices within its poll interval.

PortAudio sees new sound cards only after re-initialisation, which is only safe with no stream open:
``refresh_devices()`` does that and says so when a stream is still open. It is never safe once the JACK
server PortAudio's JACK host was connected to has died (usbphone/audio/jackhost.py: Pa_Terminate and
Pa_CloseStream then abort the process): a stream on that host is then abandoned untouched, PortAudio is
never re-initialised again, and at exit sounddevice's Pa_Terminate is skipped (``portaudio_stuck()`` says
why). Edit this module to change how samples move between the card and the buffers; device choice lives in
devices.py, policy in engine.py.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sounddevice as sd
import soxr

from usbphone.audio.jackhost import JACK, JACK_HOSTAPI
from usbphone.audio.ringbuffer import DriftBuffer
from usbphone.audio.watchdog import STARTUP_S, CallbackClock

# The callback's block: pjsua's frame. Left to the host (0), a 10 ms JACK period calls Python 100 times a
# second and ALSA's pulse PCM ~500 times (tiny, varying blocks); 20 ms halves the first (CPU: tools/bench_audio.py)
# and gives the second steady periods. PortAudio adapts the host's buffers to it (its latency includes that).
BLOCK_MS = 20

log = logging.getLogger("usbphone.audio")

_open_streams = 0
_open_lock = threading.Lock()
_abandoned: list[Any] = []  # sd.Stream objects PortAudio could not stop: kept referenced, never closed
_hung = ""  # why Pa_Terminate would wait forever (a stream abandoned on a host other than JACK)


class JackHostGone(sd.PortAudioError):
    """A JACK device was asked for after PortAudio's JACK server died (usbphone/audio/jackhost.py)."""


def _has_jack_host() -> bool:
    return any(h["name"] == JACK_HOSTAPI for h in sd.query_hostapis())


def _watch_jack() -> None:
    """After each Pa_Initialize: watch the JACK server PortAudio connected to, if it found one."""
    if _has_jack_host():
        JACK.attach()


def portaudio_stuck() -> str:
    """Why PortAudio must not be terminated or re-initialised in this process ("" when it may be)."""
    if JACK.gone and _has_jack_host():
        return f"PortAudio's JACK server went away ({JACK.reason}); PortAudio 19.6 cannot reconnect to it"
    return _hung


def jack_host_dead() -> bool:
    """PortAudio's JACK host is unusable for the rest of this process (its server died)."""
    return JACK.gone and _has_jack_host()


def refresh_devices() -> bool:
    """Re-initialise PortAudio so it sees cards/servers that appeared since start; False if a stream is open
    or PortAudio cannot be terminated safely (``portaudio_stuck()``)."""
    with _open_lock:
        if _open_streams or portaudio_stuck():
            return False
        JACK.detach()
        sd._terminate()  # noqa: SLF001 - sounddevice's documented way to re-scan (see its FAQ)
        sd._initialize()  # noqa: SLF001
        _watch_jack()
        return True


def _exit_handler() -> None:
    """Replaces sounddevice's atexit handler (Pa_Terminate), which would abort the process (pa_jack.c
    Terminate/CleanUpStream asserts) after a JACK server died, or hang on an abandoned stream."""
    why = portaudio_stuck()
    if why:
        log.info("audio: PortAudio left to the OS at exit: %s", why)
        return
    JACK.detach()
    sd._exit_handler()  # noqa: SLF001


atexit.unregister(sd._exit_handler)  # noqa: SLF001
atexit.register(_exit_handler)
_watch_jack()


@dataclass
class StreamStats:
    callbacks: int = 0
    input_overflows: int = 0
    input_underflows: int = 0
    output_underflows: int = 0
    output_overflows: int = 0
    errors: int = 0  # exceptions caught inside the callback
    last_error: str = ""
    startup_xruns: int = 0  # flagged in the first 0.5 s (stream start, a sound server re-wiring its graph)

    @property
    def xruns(self) -> int:
        return self.input_overflows + self.input_underflows + self.output_underflows + self.output_overflows

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["xruns"] = self.xruns
        return out


class _Resampler:
    """soxr streaming resampler for one direction, or a pass-through when the rates are equal.

    ``vr=True`` (soxr's variable-rate engine, still band-limited: a 6 kHz tone into 16k->8k comes out at
    -inf dB) because the fixed-rate engine works in large DFT blocks: fed 10 ms chunks it returns nothing for
    ~100 ms and then one 830-sample lump (measured with soxr 1.1.0), which would add 50-100 ms of latency.
    The variable-rate engine returns every chunk's worth at once after a ~12 ms filter delay.
    """

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.ratio = rate_out / rate_in
        self.rate_out = rate_out
        self._rs = None if rate_in == rate_out else soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32",
                                                                         quality="HQ", vr=True)

    @property
    def delay_ms(self) -> float:
        """The filter's delay (soxr reports it in output samples)."""
        return 0.0 if self._rs is None else 1000 * float(self._rs.delay()) / self.rate_out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._rs is None:
            return x
        return self._rs.resample_chunk(x)


class DuplexStream:
    """A running duplex stream bound to two DriftBuffers at ``bridge_rate``; ``close()`` stops it."""

    def __init__(
        self,
        device: tuple[int | str | None, int | str | None],
        samplerate: int,
        bridge_rate: int,
        uplink: DriftBuffer,
        downlink: DriftBuffer,
        mix: Callable[[int, int], np.ndarray | None] | None = None,
        gain: Callable[[], float] | None = None,
        latency: str | float = "low",
        capture: Callable[[], bool] | None = None,
    ) -> None:
        global _open_streams
        self.samplerate, self.bridge_rate = samplerate, bridge_rate
        self.uplink, self.downlink = uplink, downlink
        self.stats = StreamStats()
        self._mix = mix
        self._gain = gain or (lambda: 1.0)
        self._capture = capture or (lambda: True)  # False: nobody reads the uplink (no call), skip it
        self.echo: Any = None  # an EchoCanceller at ``samplerate`` (usbphone/audio/echo.py), set by the bridge
        self._up = _Resampler(samplerate, bridge_rate)
        self._down = _Resampler(bridge_rate, samplerate)
        self._fifo = np.zeros(0, dtype=np.float32)  # earpiece samples at the device rate not yet played
        self._closing = False
        self.started_at = time.monotonic()
        self.clock = CallbackClock(self.started_at)
        channels = _channels(device)
        self.on_jack = _on_jack(device)
        if self.on_jack and jack_host_dead():  # its dead client would only fail (or, closing, abort)
            raise JackHostGone(f"{portaudio_stuck()}; its devices come back when usbphone restarts")
        self._stream = sd.Stream(
            device=device, samplerate=samplerate, channels=channels, dtype="float32", latency=latency,
            blocksize=samplerate * BLOCK_MS // 1000, callback=self._callback, finished_callback=self._finished,
        )
        self.channels = channels
        self.device_names = (_name(device[0], "input"), _name(device[1], "output"))
        with _open_lock:
            _open_streams += 1
        self._counted = True
        try:
            self.clock.latency_s = max(self.latency_s)  # the host's buffers: how far apart callbacks may be
            self._stream.start()
        except Exception:
            self.close()
            raise
        self.lost = False

    @property
    def latency_s(self) -> tuple[float, float]:
        """PortAudio's own (input, output) latency: the device's buffers, not the bridge's."""
        lat = self._stream.latency
        return (float(lat[0]), float(lat[1]))

    def bridge_latency_ms(self) -> dict[str, float]:
        """What the bridge adds on top of PortAudio's buffers, per direction: buffer wait + resampler delay
        (+ the earpiece's resampled-but-unplayed remainder)."""
        fifo_ms = 1000 * self._fifo.size / self.samplerate
        return {"mic_to_call": round(self.uplink.stats.wait_ms + self._up.delay_ms, 1),
                "call_to_earpiece": round(self.downlink.stats.wait_ms + self._down.delay_ms + fifo_ms, 1)}

    def _callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, _time: Any,
                  status: sd.CallbackFlags) -> None:
        st = self.stats
        try:
            st.callbacks += 1
            now = time.monotonic()
            self.clock.tick(now, frames, self.samplerate)
            if status and now - self.started_at < STARTUP_S:
                st.startup_xruns += 1
            elif status:
                st.input_overflows += bool(status.input_overflow)
                st.input_underflows += bool(status.input_underflow)
                st.output_underflows += bool(status.output_underflow)
                st.output_overflows += bool(status.output_overflow)
            in_call = self._capture()
            if in_call:  # nobody reads the microphone or writes the earpiece buffer outside a call
                out = self._earpiece(frames, now)
                out *= self._gain()
            else:
                out = np.zeros(frames, dtype=np.float32)
            if self._mix is not None:
                extra = self._mix(frames, self.samplerate)
                if extra is not None:
                    out += extra
            np.minimum(out, 1.0, out=out)  # = np.clip, without its Python-level dispatch (~10 us per call)
            np.maximum(out, -1.0, out=out)
            outdata[:] = out[:, None]
            if in_call:
                mic = indata[:, 0] if indata.shape[1] == 1 else indata.mean(axis=1, dtype=np.float32)
                ec = self.echo
                if ec is not None:  # the block just sent to the speaker is the echo reference
                    mic = ec.process(mic, out)
                up = self._up(mic if mic.flags.c_contiguous else np.ascontiguousarray(mic))
                if up.size:
                    self.uplink.write(up, now)
        except Exception as exc:  # noqa: BLE001 - a PortAudio callback must never raise
            st.errors += 1
            st.last_error = f"{type(exc).__name__}: {exc}"
            outdata.fill(0)

    def _earpiece(self, frames: int, now: float) -> np.ndarray:
        """``frames`` device-rate samples from the downlink (read in bridge-rate chunks, resampled)."""
        for _ in range(4):  # bounded: the resampler's start-up delay may need a second helping
            need = frames - self._fifo.size
            if need <= 0:
                break
            n = max(-(-need * self.bridge_rate // self.samplerate), 1)  # ceil, in integers
            self._fifo = np.concatenate([self._fifo, self._down(self.downlink.read(n, now))])
        if self._fifo.size < frames:
            self._fifo = np.concatenate([self._fifo, np.zeros(frames - self._fifo.size, dtype=np.float32)])
        out, self._fifo = self._fifo[:frames], self._fifo[frames:]
        return out.copy() if self._fifo.size else out

    def _finished(self) -> None:
        if not self._closing:
            self.lost = True

    @property
    def active(self) -> bool:
        return bool(self._stream.active) and not self.lost

    def stalled(self, now: float) -> bool:
        """No callback for a few periods (usbphone/audio/watchdog.py): the device or its server is gone
        without PortAudio saying so (a JACK server that dies never calls the finished callback)."""
        return self.clock.stalled(now)

    def close(self, timeout_s: float = 1.0) -> bool:
        """Stop and close; False when the stream had to be abandoned (it then still counts as open, so
        ``refresh_devices()`` will not re-initialise PortAudio under it):
          * on PortAudio's JACK host once its server is gone (usbphone/audio/jackhost.py hears of that within
            ~10 ms, long before the stall watchdog; should that notice be late, a lost or stalled stream whose
            server takes no client is taken as gone too): stopping or closing it would abort the process
            (pa_jack.c CleanUpStream assertion) or spin, so PortAudio is not called at all; a JACK stream that
            merely stalled on a live server is closed normally;
          * elsewhere when PortAudio does not stop it within ``timeout_s`` (a hung host): left on a daemon
            thread, and Pa_Terminate is skipped at exit."""
        global _open_streams, _hung
        self._closing = True
        if self.on_jack and not JACK.gone and (self.lost or self.stalled(time.monotonic())) \
                and not JACK.server_running():  # in case libjack's shutdown notice is late (a loaded machine)
            JACK.mark_gone(f"the JACK server behind {self.device_names[1]!r} stopped answering")
        if self.on_jack and JACK.gone:
            _abandoned.append(self._stream)
            self._up = self._down = None  # type: ignore[assignment]  # no callback comes again; frees soxr now
            log.warning("audio: the JACK server behind %r is gone; its stream is left to the OS (closing it would "
                        "abort PortAudio)", self.device_names[1])
            return False

        def stop() -> None:
            self._stream.abort(ignore_errors=True)
            self._stream.close(ignore_errors=True)

        worker = threading.Thread(target=stop, name="usbphone-audio-close", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            log.warning("audio: PortAudio did not stop the stream within %.1f s; abandoning it", timeout_s)
            _abandoned.append(self._stream)
            _hung = f"a stream on {self.device_names[1]!r} could not be stopped"  # Pa_Terminate would wait on it
            return False
        with _open_lock:
            if self._counted:
                _open_streams -= 1
                self._counted = False
        return True


def _on_jack(device: tuple[int | str | None, int | str | None]) -> bool:
    """Does this stream go through PortAudio's JACK host?"""
    try:
        apis = {int(sd.query_devices(d, kind)["hostapi"]) for d, kind in zip(device, ("input", "output"), strict=True)}
        return any(sd.query_hostapis(a)["name"] == JACK_HOSTAPI for a in apis)
    except Exception:  # noqa: BLE001 - unknown device: sd.Stream will say so
        return False


def _channels(device: tuple[int | str | None, int | str | None]) -> tuple[int, int]:
    """Mono where the device allows it; hw: devices that only do stereo get 2 (mixed down / duplicated)."""
    ins = sd.query_devices(device[0], "input")
    outs = sd.query_devices(device[1], "output")
    in_ch = 1 if ins["max_input_channels"] >= 1 else 0
    out_ch = 1 if outs["max_output_channels"] >= 1 else 0
    if not in_ch or not out_ch:
        raise ValueError(f"{ins['name']} / {outs['name']}: need a microphone and an earpiece")
    name = f"{ins['name']} {outs['name']}"
    if "(hw:" in name:  # raw hw PCMs take only the channel counts the card has
        in_ch, out_ch = int(ins["max_input_channels"]), int(outs["max_output_channels"])
        in_ch, out_ch = min(in_ch, 2), min(out_ch, 2)
    return in_ch, out_ch


def _name(device: int | str | None, kind: str) -> str:
    try:
        return str(sd.query_devices(device, kind)["name"])
    except Exception:  # noqa: BLE001 - only for display
        return str(device)

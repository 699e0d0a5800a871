"""The sound-card side of the bridge: one duplex sounddevice stream at the device's native rate.

Each PortAudio callback (its own real-time thread) moves one 20 ms block each way and nothing else:
  the handset's conference port (usbphone/sip/confport.py, pjmedia in C) -> earpiece at ``gain``,
  plus ``mix(n, rate)`` (local tones, rendered at the device rate) added to the earpiece,
  microphone (cleaned of what the speaker just played when ``echo`` is set: hands-free) -> the port.
Clock drift, buffering and rate conversion happen in pjmedia, behind the port.
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
import ctypes
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sounddevice as sd

from usbphone.audio.jackhost import JACK, JACK_HOSTAPI
from usbphone.audio.watchdog import STARTUP_S, CallbackClock

# The callback's block: pjsua's frame. Left to the host (0), a 10 ms JACK period calls Python 100 times a
# second and ALSA's pulse PCM ~500 times (tiny, varying blocks); 20 ms halves the first (CPU: tools/bench_audio.py)
# and gives the second steady periods. PortAudio adapts the host's buffers to it (its latency includes that).
BLOCK_MS = 20

log = logging.getLogger("usbphone.audio")

_open_streams = 0
_open_lock = threading.Lock()
_abandoned: list[Any] = []  # sd.RawStream objects PortAudio could not stop: kept referenced, never closed
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


class DuplexStream:
    """A running duplex stream at the device's native rate; ``close()`` stops it.

    ``port`` is the handset's port in the conference bridge at this rate (usbphone/sip/confport.py: ``get()``
    -> the next earpiece block as int16, ``put()`` sends its ``mic`` block), or None where no SIP endpoint
    exists (local tones only). While ``capture()`` is false (no call) the port is not clocked at all."""

    def __init__(
        self,
        device: tuple[int | str | None, int | str | None],
        samplerate: int,
        port: Any = None,
        mix: Callable[[int, int], np.ndarray | None] | None = None,
        gain: Callable[[], float] | None = None,
        latency: str | float = "low",
        capture: Callable[[], bool] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        global _open_streams
        self.samplerate = samplerate
        self.blocksize = samplerate * BLOCK_MS // 1000
        if port is not None and port.samples != self.blocksize:
            raise ValueError(f"conference port blocks of {port.samples} samples, stream blocks of {self.blocksize}")
        self.port = port
        self.stats = StreamStats()
        self._mix = mix
        self._gain = gain or (lambda: 1.0)
        self._capture = capture or (lambda: True)  # False: no call, the conference port is left alone
        self._on_end = on_end  # told (PortAudio's thread) when PortAudio ends the stream by itself
        self.echo: Any = None  # an EchoCanceller at ``samplerate`` (usbphone/audio/echo.py), set by the bridge
        self._out = np.zeros(self.blocksize, dtype=np.float32)  # the earpiece block, when built in Python
        self._closing = False
        self.started_at = time.monotonic()
        self.clock = CallbackClock(self.started_at)
        channels = _channels(device)
        self.on_jack = _on_jack(device)
        if self.on_jack and jack_host_dead():  # its dead client would only fail (or, closing, abort)
            raise JackHostGone(f"{portaudio_stuck()}; its devices come back when usbphone restarts")
        self._stream = sd.RawStream(
            device=device, samplerate=samplerate, channels=channels, dtype="int16", latency=latency,
            blocksize=self.blocksize, callback=self._callback, finished_callback=self._finished,
        )
        self.channels = channels
        self._mono = channels == (1, 1)
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

    def _callback(self, indata: Any, outdata: Any, frames: int, _time: Any, status: sd.CallbackFlags) -> None:
        """PortAudio's thread, once per block; ``indata``/``outdata`` are its raw int16 buffers (sd.RawStream:
        no NumPy arrays made per block unless Python has to touch the samples)."""
        st = self.stats
        try:
            st.callbacks += 1
            now = time.monotonic()
            self.clock.tick(now, frames, self.samplerate)
            if status:
                if now - self.started_at < STARTUP_S:
                    st.startup_xruns += 1
                else:
                    st.input_overflows += bool(status.input_overflow)
                    st.input_underflows += bool(status.input_underflow)
                    st.output_underflows += bool(status.output_underflow)
                    st.output_overflows += bool(status.output_overflow)
            port = self.port
            in_call = port is not None and frames == self.blocksize and self._capture()
            tone = self._mix(frames, self.samplerate) if self._mix is not None else None
            if in_call:
                gain = self._gain()
                if gain != port.level:
                    port.set_level(gain)  # the earpiece volume, applied by the conference bridge
                if tone is None and self.echo is None and self._mono:  # a call's steady state: no Python per sample
                    port.exchange(ctypes.addressof(ctypes.c_char.from_buffer(outdata)),
                                  ctypes.addressof(ctypes.c_char.from_buffer(indata)))
                    return
            ins, outs = self.channels
            self._mixed_block(np.frombuffer(indata, dtype=np.int16).reshape(-1, ins),
                              np.frombuffer(outdata, dtype=np.int16).reshape(-1, outs), frames,
                              port if in_call else None, tone)
        except Exception as exc:  # noqa: BLE001 - a PortAudio callback must never raise
            st.errors += 1
            st.last_error = f"{type(exc).__name__}: {exc}"
            ctypes.memset(ctypes.addressof(ctypes.c_char.from_buffer(outdata)), 0, len(outdata))

    def _mixed_block(self, indata: np.ndarray, outdata: np.ndarray, frames: int, port: Any,
                     tone: np.ndarray | None) -> None:
        """A block that needs Python per sample: a local tone, echo cancellation, a stereo-only device."""
        out = self._out if frames == self.blocksize else np.zeros(frames, dtype=np.float32)
        if port is not None:
            np.copyto(out, port.get(), casting="unsafe")
            out *= 1 / 32768
        else:
            out.fill(0.0)
        if tone is not None:
            out += tone
        np.minimum(out, 32767 / 32768, out=out)  # = np.clip, without its Python-level dispatch (~10 us per call)
        np.maximum(out, -1.0, out=out)
        outdata[:] = (out * 32768.0).astype(np.int16)[:, None]
        if port is None:
            return
        mic = indata[:, 0] if indata.shape[1] == 1 else indata.mean(axis=1)
        if self.echo is not None:  # the block just sent to the speaker is the echo reference
            cleaned = self.echo.process(mic.astype(np.float32) / 32768.0, out)
            np.copyto(port.mic, np.clip(cleaned * 32768.0, -32768, 32767), casting="unsafe")
        else:
            np.copyto(port.mic, mic, casting="unsafe")
        port.put()

    def _finished(self) -> None:
        if not self._closing:
            self.lost = True
            if self._on_end is not None:
                self._on_end()

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

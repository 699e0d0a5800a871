"""Acoustic echo cancellation for speakerphones and hands-free mode: speexdsp's AEC through ctypes.

pjsua2 runs on its null sound device, so pjmedia's own echo canceller (which sits on the sound-device port)
never sees our audio; the bridge therefore cancels echo itself, on the sound-card side where the speaker
signal and the microphone share one clock: ``EchoCanceller.process(mic, played)`` takes each microphone block
and the block sent to the speaker in the same PortAudio callback (the reference leads its echo, as the
canceller needs) and returns the cleaned microphone block. Speex wants fixed frames, so blocks of any size
are cut into ``frame_ms`` frames through small FIFOs; the output lags by at most one frame. speexdsp's
preprocessor then suppresses the residual echo. The library is Debian's ``libspeexdsp1`` (RUN_DEBS);
without it ``available()`` is False and the bridge says echo cancellation is off.

Edit this module to tune the canceller (tail length, frame size, suppression).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np

# source: speexdsp include/speex/speex_echo.h and speex_preprocess.h (control request numbers)
SPEEX_ECHO_SET_SAMPLING_RATE = 24
SPEEX_PREPROCESS_SET_ECHO_STATE = 24
SPEEX_PREPROCESS_SET_ECHO_SUPPRESS = 21  # dB of residual echo attenuation (negative)
SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE = 23  # ... while the near end talks (double talk)
SPEEX_PREPROCESS_SET_DENOISE = 0

_lib: Any = None


def _load() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            _lib = False
            return _lib
        vp, i16p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16)
        lib.speex_echo_state_init.restype = vp
        lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_echo_state_destroy.argtypes = [vp]
        lib.speex_echo_cancellation.argtypes = [vp, i16p, i16p, i16p]
        lib.speex_echo_ctl.argtypes = [vp, ctypes.c_int, vp]
        lib.speex_preprocess_state_init.restype = vp
        lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_preprocess_state_destroy.argtypes = [vp]
        lib.speex_preprocess_ctl.argtypes = [vp, ctypes.c_int, vp]
        lib.speex_preprocess_run.argtypes = [vp, i16p]
        _lib = lib
    return _lib


def available() -> bool:
    return bool(_load())


class EchoCanceller:
    """One canceller for one mono stream at ``rate``; ``process`` is called from the audio callback only."""

    def __init__(self, rate: int, frame_ms: int = 10, tail_ms: int = 200, suppress_db: int = -40,
                 suppress_active_db: int = -15) -> None:
        lib = _load()
        if not lib:
            raise RuntimeError("echo cancellation needs libspeexdsp (Debian package libspeexdsp1)")
        self._lib = lib
        self.rate = rate
        self.frame = rate * frame_ms // 1000
        self._echo = lib.speex_echo_state_init(self.frame, rate * tail_ms // 1000)
        self._pre = lib.speex_preprocess_state_init(self.frame, rate)
        if not self._echo or not self._pre:
            self.close()
            raise RuntimeError("speexdsp could not create an echo canceller")
        r = ctypes.c_int(rate)
        lib.speex_echo_ctl(self._echo, SPEEX_ECHO_SET_SAMPLING_RATE, ctypes.byref(r))
        lib.speex_preprocess_ctl(self._pre, SPEEX_PREPROCESS_SET_ECHO_STATE, self._echo)
        for req, db in ((SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, suppress_db),
                        (SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, suppress_active_db)):
            v = ctypes.c_int(db)
            lib.speex_preprocess_ctl(self._pre, req, ctypes.byref(v))
        off = ctypes.c_int(0)  # the denoiser would treat a steady tone (or hum-like speech) as noise
        lib.speex_preprocess_ctl(self._pre, SPEEX_PREPROCESS_SET_DENOISE, ctypes.byref(off))
        self._mic = np.zeros(0, dtype=np.int16)
        self._ref = np.zeros(0, dtype=np.int16)
        self._out = np.zeros(self.frame, dtype=np.float32)  # one frame of lag, so output keeps pace
        self._rec_buf = np.zeros(self.frame, dtype=np.int16)
        self._play_buf = np.zeros(self.frame, dtype=np.int16)
        self._clean = np.zeros(self.frame, dtype=np.int16)
        self.frames = 0

    def process(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        """Cleaned microphone samples, as many as ``mic`` (float32 in, float32 out)."""
        self._mic = np.concatenate((self._mic, _to_i16(mic)))
        self._ref = np.concatenate((self._ref, _to_i16(played)))
        n = min(self._mic.size, self._ref.size) // self.frame
        outs = [self._out]
        i16p = ctypes.POINTER(ctypes.c_int16)
        for k in range(n):
            self._rec_buf[:] = self._mic[k * self.frame:(k + 1) * self.frame]
            self._play_buf[:] = self._ref[k * self.frame:(k + 1) * self.frame]
            self._lib.speex_echo_cancellation(self._echo, self._rec_buf.ctypes.data_as(i16p),
                                              self._play_buf.ctypes.data_as(i16p), self._clean.ctypes.data_as(i16p))
            self._lib.speex_preprocess_run(self._pre, self._clean.ctypes.data_as(i16p))
            outs.append(self._clean.astype(np.float32) / 32768.0)
            self.frames += 1
        self._mic, self._ref = self._mic[n * self.frame:], self._ref[n * self.frame:]
        out = np.concatenate(outs)
        result, self._out = out[:mic.size], out[mic.size:]
        if result.size < mic.size:  # only at the very start
            result = np.concatenate((np.zeros(mic.size - result.size, dtype=np.float32), result))
        return result

    def close(self) -> None:
        if getattr(self, "_echo", None):
            self._lib.speex_echo_state_destroy(self._echo)
            self._echo = None
        if getattr(self, "_pre", None):
            self._lib.speex_preprocess_state_destroy(self._pre)
            self._pre = None

    def __del__(self) -> None:
        self.close()


def _to_i16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)

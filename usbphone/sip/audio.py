"""AudioBridge: a call's audio between pjsua2's conference bridge and the handset's sound card.

pjsua2 runs on its null sound device. One ``HandsetPort`` (a Python ``AudioMediaPort``, 16-bit mono, 20 ms
at ``bridge_rate``) stands for the handset in the conference bridge: every call's audio media is connected
both ways to it, so the bridge mixes calls (call waiting, conferences) for us. Its callbacks run on pjmedia's
clock thread, never raise (errors are counted) and only move 20 ms frames through the engine's two
``DriftBuffer``s; the sound-card side (stream, tones, echo cancellation, faults) is usbphone/audio/engine.py.

CallCore (usbphone/sip/core.py) calls ``on_endpoint_started``/``connect``/``disconnect``/``close`` on
pjlib-known threads: the only pjsua2 calls made here. ``connect`` is idempotent, so calling it again when a
call's media is re-created (hold/resume) is safe. The app calls ``play_tone``/``stop_tone``/``set_volume``/
``set_ring_volume``/``set_hands_free``/``use_handset`` (engine.py) from its loop.
Edit this module for how the bridge meets pjsua2.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pjsua2 as pj

from usbphone.audio.engine import AudioEngine
from usbphone.audio.settings import AudioSettings, volume_gain

__all__ = ["AudioBridge", "AudioSettings", "HandsetPort", "volume_gain"]

log = logging.getLogger("usbphone.audio")

FRAME_MS = 20


def _vector_data_ptr() -> Callable[[Any], int | None] | None:
    """The address of a pjsua2 ``ByteVector``'s bytes (std::vector, libstdc++ layout: its first word), or None
    when that layout does not hold here. Reading through it takes ~0.4 us per 20 ms frame where ``bytes(vec)``
    walks the vector element by element through SWIG (~200 us, measured); writing through it spares building a
    new ByteVector from bytes per frame (SWIG converts those one by one too: ~10-25 us). Checked once, both
    ways, against the slow path."""

    def ptr(vec: Any) -> int | None:
        return ctypes.c_void_p.from_address(int(vec.this)).value

    try:
        probe = bytes(range(256)) * 3
        vec = pj.ByteVector(probe)
        addr = ptr(vec)
        if addr and ctypes.string_at(addr, len(probe)) == probe:
            ctypes.memmove(addr, bytes(reversed(probe)), len(probe))
            if bytes(vec) == bytes(reversed(probe)):
                return ptr
    except Exception:  # noqa: BLE001 - any surprise: the slow, safe way
        pass
    return None


_vector_ptr = _vector_data_ptr()


def _read_vector(vec: Any, size: int) -> bytes:
    """The first ``size`` bytes of a ``ByteVector`` (fast where the layout is known)."""
    if _vector_ptr is not None:
        data = _vector_ptr(vec)
        return ctypes.string_at(data, size) if data else b""
    return bytes(vec)[:size]


class HandsetPort(pj.AudioMediaPort):
    """The handset inside pjsua's conference bridge. Callbacks (pjmedia clock thread) never raise."""

    def __init__(self, bridge: AudioBridge) -> None:
        super().__init__()
        self._bridge = bridge
        self.samples = bridge.bridge_rate * FRAME_MS // 1000
        self._silence = np.zeros(self.samples, dtype=np.float32)
        # per-frame work happens in these (no allocation on the clock thread): float scratch, int16 PCM, and one
        # ByteVector whose bytes are overwritten in place (``frame.buf = vec`` copies it into the frame)
        self._f32 = np.empty(self.samples, dtype=np.float32)
        self._pcm = np.zeros(self.samples, dtype="<i2")
        self._vec = pj.ByteVector(self._pcm.tobytes())
        self._vec_addr = _vector_ptr(self._vec) if _vector_ptr is not None else None
        self._pcm_addr = self._pcm.ctypes.data
        self.requested = 0
        self.received = 0
        self.received_audio = 0
        self.errors = 0

    def create(self, name: str = "usbphone-handset") -> None:
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, self._bridge.bridge_rate, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        """Audio INTO the calls: the microphone (uplink buffer)."""
        try:
            self.requested += 1
            b = self._bridge
            x = b.uplink.read(self.samples) if b.streaming else self._silence
            f, pcm = self._f32, self._pcm
            np.multiply(x, 32768.0, out=f)
            np.minimum(f, 32767.0, out=f)
            np.maximum(f, -32768.0, out=f)
            np.copyto(pcm, f, casting="unsafe")
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            if self._vec_addr is not None:
                ctypes.memmove(self._vec_addr, self._pcm_addr, pcm.nbytes)
                frame.buf = self._vec
            else:
                frame.buf = pj.ByteVector(pcm.tobytes())
            frame.size = pcm.nbytes
        except Exception:  # noqa: BLE001 - never raise into pjmedia's clock thread
            self.errors += 1

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        """Audio FROM the calls (already mixed by the conference bridge): the earpiece (downlink buffer)."""
        try:
            self.received += 1
            b = self._bridge
            if not b.streaming:
                return
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                self.received_audio += 1
                size = min(int(frame.size), int(frame.buf.size()))
                b.downlink.write(np.frombuffer(_read_vector(frame.buf, size), dtype="<i2"))
            else:  # no audio this tick (before media, on hold): keep the clock flowing with silence
                b.downlink.write(self._silence)
        except Exception:  # noqa: BLE001
            self.errors += 1


class AudioBridge(AudioEngine):
    """The CallCore audio hook: ``AudioBridge(device, samplerate=None, config=None, *, handset_syspath=None,
    notify=None)``; ``device`` (CLI/config name) wins over ``handset_syspath`` (the handset's sysfs node)."""

    def __init__(self, device: str | None, samplerate: int | None = None, config: Any = None, *,
                 handset_syspath: str | None = None, notify: Callable[[str, dict[str, Any]], None] | None = None,
                 ) -> None:
        super().__init__(device, samplerate, config, handset_syspath=handset_syspath, notify=notify)
        self.port: HandsetPort | None = None

    # --- CallCore hook (pjlib-known threads) ----------------------------------------------------------

    def on_endpoint_started(self) -> None:
        self.port = HandsetPort(self)
        self.port.create()
        self._start_thread()

    def connect(self, call_id: int, aud_med: pj.AudioMedia) -> None:
        if self.port is None:
            self.on_endpoint_started()
        assert self.port is not None
        aud_med.startTransmit(self.port)
        self.port.startTransmit(aud_med)
        with self._lock:
            self._calls[call_id] = aud_med
        self._wake.set()

    def disconnect(self, call_id: int) -> None:
        """The call's media is gone (pjsua removes its conference slot itself): forget it."""
        with self._lock:
            self._calls.pop(call_id, None)
        self._wake.set()

    def close(self) -> None:
        """Stop the stream and the control thread, then drop the port (before libDestroy, on a pjlib thread)."""
        self.stop()
        self.port = None  # its destructor removes it from the conference bridge

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        p = self.port
        if p is not None:
            out["port"] = {"requested": p.requested, "received": p.received, "received_audio": p.received_audio,
                           "errors": p.errors}
        return out

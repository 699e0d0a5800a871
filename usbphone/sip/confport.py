"""The handset's port in pjsua's conference bridge, built from pjmedia's own C parts.

pjsua joins a sound device whose clock is not the conference clock with pjmedia's splitter/combiner
("splitcomb") and its *reverse channel* port (pjmedia/splitcomb.h): the reverse port sits in the conference
bridge and is clocked by it, the splitcomb is clocked by the sound card. ``ConfPort`` does exactly that with
a one-channel splitcomb at the sound card's native rate; the PortAudio callback (usbphone/audio/stream.py)
hands it one 20 ms block each way per callback (``get`` = earpiece, ``put`` = microphone). So nothing in
Python runs on the conference clock, and pjmedia does, in C:
  * the clock crossing: one delay buffer per direction (delaybuf.c) learns how bursty the two sides are and
    absorbs the drift between the USB clock and the conference clock by WSOLA time-stretching (it adds or
    drops whole pitch periods, inaudibly), bounded at ``buffers`` x 20 ms;
  * the rate conversion: the conference bridge resamples between the port's rate and its own clock rate
    (pjmedia's resampler; its filter size follows [medConfig] quality, usbphone/sip/pjconfig.py).
This replaced a Python ``AudioMediaPort`` with Python ring buffers and soxr: two Python callbacks per 20 ms
on pjmedia's clock thread cost more CPU than a whole baresip call (tools/bench_audio.py).

Bindings: ctypes on the pjsua/pjmedia C functions the pjsua2 wheel's ``_pjsua2`` module exports (the same
library instance pjsua2 runs). The one struct laid out here is ``pjmedia_frame`` (pjmedia/frame.h, unchanged
since pjmedia 1.x); ``available()`` checks every symbol once. Every call that enters pjlib is made on a
thread registered with pjlib (``register_thread``). Edit this module for how the handset meets the
conference bridge; the sound-card side is usbphone/audio/stream.py.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from functools import cache
from typing import Any

import numpy as np
import pjsua2 as pj

log = logging.getLogger("usbphone.audio")

FRAME_MS = 20
# Delay-buffer size per direction, in frames: the most the clock crossing can hold (source: splitcomb.c,
# buf_cnt = options & 0xFF; pjmedia's default is PJMEDIA_SOUND_BUFFER_COUNT). The buffer keeps what the two
# clocks' burstiness needs and sheds the rest by time-stretching; with 0.1 % drift over a simulated 10-minute
# call the delay stayed within 5-75 ms each way, not creeping (tests/test_audio_confport.py).
BUFFERS = 3
PJMEDIA_FRAME_TYPE_AUDIO = 1  # source: pjmedia/frame.h pjmedia_frame_type


class _Frame(ctypes.Structure):
    """pjmedia_frame (pjmedia/frame.h): type, buf, size, timestamp (pj_timestamp: a 64-bit union), bit_info."""

    _fields_ = [("type", ctypes.c_int), ("buf", ctypes.c_void_p), ("size", ctypes.c_size_t),
                ("timestamp", ctypes.c_uint64), ("bit_info", ctypes.c_uint32)]


@cache
def _lib() -> Any:
    """The loaded _pjsua2 extension as a C library, its prototypes declared (raises OSError/AttributeError)."""
    lib = ctypes.CDLL(pj._pjsua2.__file__)  # noqa: SLF001 - the already-loaded module: the same pjsua instance
    vp, u = ctypes.c_void_p, ctypes.c_uint
    protos: dict[str, tuple[Any, list[Any]]] = {
        "pjsua_pool_create": (vp, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]),
        "pjmedia_splitcomb_create": (ctypes.c_int, [vp, u, u, u, u, u, ctypes.POINTER(vp)]),
        "pjmedia_splitcomb_create_rev_channel": (ctypes.c_int, [vp, vp, u, u, ctypes.POINTER(vp)]),
        "pjsua_conf_add_port": (ctypes.c_int, [vp, vp, ctypes.POINTER(ctypes.c_int)]),
        "pjsua_conf_remove_port": (ctypes.c_int, [ctypes.c_int]),
        "pjsua_conf_connect": (ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
        "pjsua_conf_disconnect": (ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
        "pjsua_conf_adjust_tx_level": (ctypes.c_int, [ctypes.c_int, ctypes.c_float]),
        "pjsua_conf_adjust_rx_level": (ctypes.c_int, [ctypes.c_int, ctypes.c_float]),
        "pjmedia_port_put_frame": (ctypes.c_int, [vp, ctypes.POINTER(_Frame)]),
        "pjmedia_port_get_frame": (ctypes.c_int, [vp, ctypes.POINTER(_Frame)]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


@cache
def _frame_calls() -> tuple[Any, Any]:
    """put_frame/get_frame through ``PyDLL``: they keep the GIL (a few us of C, never waiting on Python), so
    the sound card's thread does not give the GIL away and queue for it again twice per block."""
    lib = ctypes.PyDLL(pj._pjsua2.__file__)  # noqa: SLF001
    calls = lib.pjmedia_port_put_frame, lib.pjmedia_port_get_frame
    for fn in calls:
        fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_Frame)]
    return calls


def available() -> str:
    """"" when the pjmedia functions ConfPort needs are there, else why not."""
    try:
        _lib()
        return ""
    except (OSError, AttributeError) as exc:
        return f"pjmedia's C API is not reachable through pjsua2 ({exc})"


_registered = threading.local()
_library = 0  # bumped per pjsua library instance: a new one knows none of the old one's threads


def library_started() -> None:
    """A pjsua library was (re)created: threads must register again (PortAudio's JACK host, for one, keeps
    its process thread for the life of PortAudio, across streams and libraries)."""
    global _library
    _library += 1


def register_thread(name: str) -> None:
    """Make the calling thread known to pjlib once per library (pjlib asserts on unknown threads)."""
    if getattr(_registered, "library", 0) != _library:
        ep = pj.Endpoint.instance()
        if not ep.libIsThreadRegistered():
            ep.libRegisterThread(name)
        _registered.library = _library


class PjmediaError(RuntimeError):
    pass


def _check(status: int, what: str) -> None:
    if status != 0:
        raise PjmediaError(f"{what} failed: {pj.Endpoint.instance().utilStrError(status)} ({status})")


class ConfPort:
    """One splitcomb + reverse channel at ``rate`` Hz, registered in the conference bridge as ``slot``.

    ``exchange`` (a call's steady state: both directions in one call, on the sound card's own buffers) and
    ``get``/``put`` (when Python mixes the block) are for the sound card's thread only (one block of
    ``samples`` int16 each); ``connect``/
    ``disconnect``/``close`` for a control thread. pjmedia keeps the port's memory in a pjsua pool that lives
    until the library is destroyed: removing a port from the bridge is asynchronous in pjmedia 2.14+ (the
    clock thread may still touch it), so ports are removed but never freed early; a bridge keeps one per rate.
    """

    def __init__(self, rate: int, buffers: int = BUFFERS) -> None:
        lib = _lib()
        register_thread("usbphone-audio-ctl")
        self.rate = rate
        self.samples = rate * FRAME_MS // 1000
        self._pool = lib.pjsua_pool_create(f"usbphone-{rate}".encode(), 2048, 2048)
        if not self._pool:
            raise PjmediaError("pjsua_pool_create failed (is the library started?)")
        self._sc, rev, slot = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_int(-1)
        _check(lib.pjmedia_splitcomb_create(self._pool, rate, 1, self.samples, 16, 0, ctypes.byref(self._sc)),
               "pjmedia_splitcomb_create")
        _check(lib.pjmedia_splitcomb_create_rev_channel(self._pool, self._sc, 0, buffers & 0xFF, ctypes.byref(rev)),
               "pjmedia_splitcomb_create_rev_channel")
        _check(lib.pjsua_conf_add_port(self._pool, rev, ctypes.byref(slot)), "pjsua_conf_add_port")
        self._rev = rev
        self.slot = slot.value
        self._connected: set[int] = set()
        # the sound card's side: two int16 blocks and the frames that point at them (no allocation per block)
        self.mic = np.zeros(self.samples, dtype=np.int16)
        self.ear = np.zeros(self.samples, dtype=np.int16)
        self._put_frame = _Frame(PJMEDIA_FRAME_TYPE_AUDIO, self.mic.ctypes.data, self.mic.nbytes, 0, 0)
        self._get_frame = _Frame(PJMEDIA_FRAME_TYPE_AUDIO, self.ear.ctypes.data, self.ear.nbytes, 0, 0)
        self._put_ref, self._get_ref = ctypes.byref(self._put_frame), ctypes.byref(self._get_frame)
        self._mic_addr, self._ear_addr = self.mic.ctypes.data, self.ear.ctypes.data
        self._nbytes = self.ear.nbytes
        self._put, self._get = _frame_calls()
        self.level = 1.0  # the earpiece volume
        self.boost = 1.0  # make-up gain, both ways
        self.errors = 0
        self.blocks = 0

    # --- the sound card's thread ----------------------------------------------------------------------

    def get(self, into: int = 0) -> np.ndarray | None:
        """The next earpiece block (int16 mono, ``samples`` long): what the conference bridge mixed for the
        handset, at the level ``set_level`` asked for. Written to address ``into`` when given (the sound card's
        own buffer: no copy), else to ``self.ear``, which is returned."""
        register_thread("usbphone-audio-io")
        f = self._get_frame
        f.type, f.size, f.buf = PJMEDIA_FRAME_TYPE_AUDIO, self.ear.nbytes, into or self._ear_addr
        if self._get(self._sc, self._get_ref) != 0 or f.type != PJMEDIA_FRAME_TYPE_AUDIO:
            self.errors += f.type == PJMEDIA_FRAME_TYPE_AUDIO
            ctypes.memset(into or self._ear_addr, 0, self.ear.nbytes)  # nothing this tick: silence
        return None if into else self.ear

    def put(self, source: int = 0) -> None:
        """Send one microphone block (int16 mono) towards the calls: from address ``source`` (the sound card's
        buffer) when given, else from ``self.mic``."""
        register_thread("usbphone-audio-io")
        self.blocks += 1
        self._put_frame.buf = source or self._mic_addr
        if self._put(self._sc, self._put_ref) != 0:
            self.errors += 1

    def exchange(self, ear: int, mic: int) -> None:
        """One block each way in one call (the sound card's steady state): the earpiece block into address
        ``ear``, the microphone block from address ``mic`` (both int16 mono, ``samples`` long)."""
        if getattr(_registered, "library", 0) != _library:
            register_thread("usbphone-audio-io")
        g, p = self._get_frame, self._put_frame
        g.type, g.size, g.buf, p.buf = PJMEDIA_FRAME_TYPE_AUDIO, self._nbytes, ear, mic
        if self._get(self._sc, self._get_ref) != 0 or g.type != PJMEDIA_FRAME_TYPE_AUDIO:
            self.errors += g.type == PJMEDIA_FRAME_TYPE_AUDIO
            ctypes.memset(ear, 0, self._nbytes)  # nothing this tick: silence
        self.blocks += 1
        if self._put(self._sc, self._put_ref) != 0:
            self.errors += 1

    def set_level(self, gain: float) -> None:
        """Scale what the bridge sends to the handset (the earpiece volume, times ``boost``), in C."""
        if gain != self.level:
            register_thread("usbphone-audio-io")
            _lib().pjsua_conf_adjust_tx_level(self.slot, ctypes.c_float(gain * self.boost))
            self.level = gain

    def set_boost(self, boost: float) -> None:
        """Make up, both ways, for a known loss between the handset and the calls (resampling passes)."""
        if boost != self.boost:
            register_thread("usbphone-audio-ctl")
            self.boost = boost
            _lib().pjsua_conf_adjust_rx_level(self.slot, ctypes.c_float(boost))
            _lib().pjsua_conf_adjust_tx_level(self.slot, ctypes.c_float(self.level * boost))

    # --- control ------------------------------------------------------------------------------------

    def connect(self, call_slot: int) -> None:
        """The call's audio to the earpiece and the microphone to the call. Always asks pjsua (connecting twice
        is harmless there): a call's media re-created on resume may get its old slot number back, unconnected."""
        register_thread("usbphone-audio-ctl")
        lib = _lib()
        _check(lib.pjsua_conf_connect(call_slot, self.slot), "pjsua_conf_connect")
        _check(lib.pjsua_conf_connect(self.slot, call_slot), "pjsua_conf_connect")
        self._connected.add(call_slot)

    def disconnect(self, call_slot: int) -> None:
        """Undo ``connect``; a slot pjsua already removed (call ended) is simply forgotten."""
        if call_slot not in self._connected:
            return
        self._connected.discard(call_slot)
        register_thread("usbphone-audio-ctl")
        lib = _lib()
        lib.pjsua_conf_disconnect(call_slot, self.slot)
        lib.pjsua_conf_disconnect(self.slot, call_slot)

    def close(self) -> None:
        """Leave the conference bridge (before the library is destroyed)."""
        if self.slot >= 0:
            register_thread("usbphone-audio-ctl")
            _lib().pjsua_conf_remove_port(self.slot)
            self.slot = -1
            self._connected.clear()

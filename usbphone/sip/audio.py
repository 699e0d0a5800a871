"""AudioBridge: a call's audio between pjsua2's conference bridge and the handset's sound card.

pjsua2 runs on its null sound device. The handset is one port in the conference bridge, made of pjmedia's
own C parts at the sound card's native rate (usbphone/sip/confport.py: a splitcomb reverse channel, the way
pjsua joins a sound device to the bridge) and clocked by the card's PortAudio callback; every call's audio
media is connected both ways to it, so the bridge mixes calls (call waiting, conferences) and converts
rates, and pjmedia's delay buffers absorb the drift between the two clocks. The sound-card side (stream,
tones, echo cancellation, faults) is usbphone/audio/engine.py, which asks ``_conf_port(rate)`` when it opens
a stream; one port per rate is kept for the life of the library.

CallCore (usbphone/sip/core.py) calls ``on_endpoint_started``/``connect``/``disconnect``/``close`` on
pjlib-known threads. ``connect`` is idempotent, so calling it again when a call's media is re-created
(hold/resume) is safe. The app calls ``play_tone``/``stop_tone``/``set_volume``/``set_ring_volume``/
``set_hands_free``/``use_handset`` (engine.py) from its loop. Edit this module for how the bridge meets pjsua2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from usbphone.audio.engine import AudioEngine
from usbphone.audio.settings import AudioSettings, volume_gain
from usbphone.sip import confport, pjconfig

__all__ = ["AudioBridge", "AudioSettings", "volume_gain"]

log = logging.getLogger("usbphone.audio")
LOOPBACK = -1  # the call id ``loopback()`` files its connection under (pjsua call ids are >= 0)


class AudioBridge(AudioEngine):
    """The CallCore audio hook: ``AudioBridge(device, samplerate=None, config=None, *, handset_syspath=None,
    notify=None)``; ``device`` (CLI/config name) wins over ``handset_syspath`` (the handset's sysfs node)."""

    def __init__(self, device: str | None, samplerate: int | None = None, config: Any = None, *,
                 handset_syspath: str | None = None, notify: Callable[[str, dict[str, Any]], None] | None = None,
                 ) -> None:
        super().__init__(device, samplerate, config, handset_syspath=handset_syspath, notify=notify)
        self._ports: dict[int, confport.ConfPort] = {}  # by rate, for the life of the library
        self._port: confport.ConfPort | None = None  # the one the open stream clocks
        self._slots: dict[int, int] = {}  # call id -> its conference slot
        self._endpoint = False
        self._loopback = False

    # --- CallCore hook (pjlib-known threads) ----------------------------------------------------------

    def on_endpoint_started(self) -> None:
        why = confport.available()
        if why:
            raise RuntimeError(f"audio bridge: {why}")
        confport.library_started()
        self._endpoint = True
        self._start_thread()

    def connect(self, call_id: int, aud_med: pj.AudioMedia) -> None:
        slot = aud_med.getPortId()
        with self._lock:  # bookkeeping only: no lock of ours is held across a pjsua call (pjsua calls us back)
            self._calls[call_id] = aud_med
            self._slots[call_id] = slot
            port = self._port
        if port is not None:
            self._join(port, slot)
        self._wake.set()

    def disconnect(self, call_id: int) -> None:
        """The call's media is gone (pjsua removes its conference slot itself): forget it."""
        with self._lock:
            self._calls.pop(call_id, None)
            slot = self._slots.pop(call_id, None)
            port = self._port
        if slot is not None and port is not None:
            port.disconnect(slot)
        self._wake.set()

    def loopback(self, on: bool = True) -> None:
        """The handset hears its own microphone through the conference bridge, as a call would carry it (both
        delay buffers, both resampling passes, one conference frame): a sidetone check, and how
        tools/bench_audio.py times the bridge. The stream opens as for a call."""
        with self._lock:
            self._loopback = on
            if on:
                self._calls[LOOPBACK] = None
            else:
                self._calls.pop(LOOPBACK, None)
            slot = self._slots.pop(LOOPBACK, None)
            port = self._port
        if port is not None and on:
            with self._lock:
                self._slots[LOOPBACK] = port.slot
            self._join(port, port.slot)
        elif port is not None and slot is not None:
            port.disconnect(slot)
        self._wake.set()

    def close(self) -> None:
        """Stop the stream and the control thread, then leave the conference bridge (before libDestroy)."""
        self.stop()
        with self._lock:
            ports, self._ports, self._port = list(self._ports.values()), {}, None
        for port in ports:
            port.close()
        self._endpoint = False

    # --- the engine's hook (its control thread) -------------------------------------------------------

    def _conf_port(self, rate: int) -> confport.ConfPort | None:
        if not self._endpoint:
            return None  # no library: local tones only
        port = self._ports.get(rate)  # (only this control thread adds ports)
        if port is None:
            port = self._ports[rate] = confport.ConfPort(rate)
        with self._lock:
            old, self._port = self._port, port
            if self._loopback:
                self._slots[LOOPBACK] = port.slot
            slots = list(self._slots.values())
        for slot in slots:
            if old is not None and old is not port:
                old.disconnect(slot)
            self._join(port, slot)
        return port

    def _join(self, port: confport.ConfPort, slot: int) -> None:
        try:
            port.connect(slot)
        except confport.PjmediaError as exc:  # e.g. the call's slot went away meanwhile
            log.warning("audio: %s", exc)
        self._make_up(port)

    def _make_up(self, port: confport.ConfPort) -> None:
        """Each small-filter resampling pass costs 1 dB (usbphone/sip/pjconfig.py): the handset's audio passes
        once between its card's rate and the conference clock, and once more between the clock and a call's
        codec rate (8 kHz G.711/GSM/iLBC on a 16 kHz clock; G.722 needs none). The port makes up for both."""
        if pjconfig.RESAMPLE_QUALITY not in (3, 4):
            return
        clock = self.settings.bridge_rate
        with self._lock:
            media = list(self._calls.values())
        rates = set()
        for am in media:
            if am is None:  # the loopback
                continue
            try:
                rates.add(int(am.getPortInfo().format.clockRate))
            except pj.Error:
                continue  # its slot went away meanwhile
        passes = (port.rate != clock) + any(r != clock for r in rates)
        port.set_boost(pjconfig.SMALL_FILTER_GAIN ** -passes)

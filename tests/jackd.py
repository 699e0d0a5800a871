"""A paced sound server for audio tests: ``jackd -d dummy`` plus a JACK client acting as the handset's user.

(Named jackd.py, not jack.py: tests/ is on sys.path in pytest, and a tests/jack.py would shadow JACK-Client's
``jack`` module.)

``JackServer(tmp, rate)`` starts ``jackd --no-realtime -n <name from a small pool> -d dummy`` with HOME in
the test's tmp dir and JACK_NO_AUDIO_RESERVATION=1, waits until clients can connect, and ``stop()`` ends it
by PID. ``server.env()`` is what PortAudio needs to see it (JACK_DEFAULT_SERVER); ``activate()`` puts that
into this process and re-initialises PortAudio so sounddevice lists the "system" device (undo with
``deactivate()``).

``JackProbe(server, prefix="PortAudio", freq=600)`` is the person at the handset: it plays a sine into every
input port of the app (the "microphone") and records every output port (the "earpiece"), connecting ports as
they appear. With ``echo_gain`` it is also the room of a speakerphone: what the app plays comes back into its
microphone ``echo_delay_s`` later. ``recording()`` returns what the earpiece got; ``analyse()`` gives its
onset, dominant frequency and level. (Recipe: ../shared/recipes/real-peers-and-audio.md §3c.)
Edit when a test needs another kind of JACK stimulus or measurement.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

NAME_POOL = 6


class ProcessSoundServer:
    """Makes a test's sound server this process's own: ``activate()`` sets its environment (``env()``, plus
    ``saved_keys`` to clear again) and re-initialises PortAudio; ``deactivate()`` puts the environment back."""

    saved_keys: tuple[str, ...] = ()
    _saved_env: dict[str, str | None] | None = None

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def activate(self) -> None:
        from usbphone.audio.stream import refresh_devices

        self._saved_env = {k: os.environ.get(k) for k in [*self.env(), *self.saved_keys]}
        os.environ.update(self.env())
        assert refresh_devices(), "a sound stream is still open"

    def deactivate(self) -> None:
        from usbphone.audio.stream import refresh_devices

        if self._saved_env is None:
            return
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = None
        refresh_devices()


class JackServer(ProcessSoundServer):
    def __init__(self, tmp: Path, rate: int = 48000, period: int | None = None) -> None:
        if shutil.which("jackd") is None:
            pytest.skip("jackd not installed (tools/setup.sh test installs jackd2)")
        pytest.importorskip("jack")
        self.rate = rate
        self.tmp, self.period = tmp, period or rate // 100  # 10 ms periods
        # JACK keeps a registry of at most 8 server names in /dev/shm; a jackd that dies without cleaning up
        # (SIGKILL) leaves its name there until a server of the same name starts. So names come from a small
        # fixed pool (stale ones are reclaimed) instead of being unique, and a name in use is skipped.
        for slot in range(NAME_POOL):
            self.name = f"usbphone-test{slot}"
            if self._alive():
                continue
            if self._start():
                return
        raise RuntimeError(f"no jackd could start (all {NAME_POOL} test server names busy?); see {tmp}")

    def _alive(self) -> bool:
        import jack

        try:
            jack.Client("upprobe", servername=self.name, no_start_server=True).close()
            return True
        except jack.JackError:
            return False

    def _start(self) -> bool:
        self.home = self.tmp / f"jack-{self.name}-{uuid.uuid4().hex[:6]}"
        self.home.mkdir(parents=True)
        self.log_path = self.home / "jackd.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ) | self.env()
        self.p = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period),
             "-w", str(self.period * 1_000_000 // self.rate), "-C", "2", "-P", "2"],  # -w: one wake-up per
            # period (the default, 21333 us, runs several periods in bursts). Its pace is not precise enough to
            # emulate a drifting sound card (measured 47.2-48.0 k frames/s under load): drift is simulated in
            # test_audio_confport.py instead.
            stdout=self._log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while not self._alive():  # ready = a client can connect
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.stop()
                return False
            time.sleep(0.1)
        return True

    def env(self) -> dict[str, str]:
        return {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1", "HOME": str(self.home),
                "JACK_NO_START_SERVER": "1"}

    def stop(self) -> None:
        try:
            self.deactivate()
        finally:
            if self.p.poll() is None:
                os.killpg(self.p.pid, signal.SIGTERM)
                try:
                    self.p.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.p.pid, signal.SIGKILL)
                    self.p.wait(5)
            self._log.close()


class JackProbe:
    """Plays ``freq`` Hz into the app's inputs, records its outputs (JACK process thread)."""

    def __init__(self, server: Any, prefix: str = "PortAudio", freq: float = 600.0, level: float = 0.5,
                 start_tone_at: float = 0.0, echo_gain: float = 0.0, echo_delay_s: float = 0.03,
                 bursts_every_s: float = 0.0, burst_s: float = 0.02) -> None:
        import jack

        self.prefix, self.freq, self.level = prefix, freq, level
        self.client = jack.Client(f"probe{uuid.uuid4().hex[:6]}", servername=server.name, no_start_server=True)
        self.rate = self.client.samplerate
        self.tone = self.client.outports.register("tone")
        self.rec = self.client.inports.register("rec")
        self._phase = 0
        self._chunks: list[np.ndarray] = []
        self._walls: list[float] = []  # time.time() at each chunk (to line up with the app's JSON log)
        self._lock = threading.Lock()
        self._connected: set[str] = set()
        self._stop = threading.Event()
        self._tone_on = start_tone_at <= 0
        self.echo_gain = echo_gain  # > 0: a "room" that feeds the earpiece back into the microphone
        self._echo_periods = max(1, round(echo_delay_s * self.rate / self.client.blocksize))
        self._echo: list[np.ndarray] = []
        self.started = time.monotonic()
        # bursts: the tone only in the first ``burst_s`` of every ``bursts_every_s``, timed by the same sample
        # counter as the recording, so ``round_trips()`` is exact to the sample
        self._every = round(bursts_every_s * self.rate)
        self._burst = round(burst_s * self.rate)
        self._rec_start = 0  # sample counter at the first recorded sample
        self.client.set_process_callback(self._process)
        self.client.activate()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _process(self, frames: int) -> None:
        i = np.arange(self._phase, self._phase + frames)
        self._phase += frames
        out = self.tone.get_array()
        out[:] = self.level * np.sin(2 * np.pi * self.freq * i / self.rate) if self._tone_on else 0.0
        if self._every:
            out[i % self._every >= self._burst] = 0.0
        heard = self.rec.get_array().copy()
        if self.echo_gain:
            self._echo.append(heard)
            if len(self._echo) > self._echo_periods:
                out += self.echo_gain * self._echo.pop(0)
        with self._lock:
            self._chunks.append(heard)
            self._walls.append(time.time())

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            try:
                for p in self.client.get_ports(self.prefix, is_audio=True):
                    if p.name in self._connected or not p.name.startswith(self.prefix):
                        continue
                    if p.is_input:
                        self.client.connect(self.tone, p)
                    else:
                        self.client.connect(p, self.rec)
                    self._connected.add(p.name)
            except Exception:  # noqa: BLE001 - ports come and go while streams open/close
                continue

    def tone_on(self, on: bool = True) -> None:
        self._tone_on = on

    def recording(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)

    def clear(self) -> None:
        with self._lock:
            self._rec_start += sum(c.size for c in self._chunks)
            self._chunks, self._walls = [], []

    def round_trips(self, threshold: float = 0.05) -> list[float]:
        """With ``bursts_every_s``: seconds from each burst leaving to its first sound coming back (one per
        burst recorded in full; a burst that never came back is left out)."""
        with self._lock:
            rec, start = self.recording_locked(), self._rec_start
        out = []
        first = -(-start // self._every) * self._every  # the first burst sent after the recording starts
        for b in range(first, start + rec.size - self._every, self._every):
            seg = np.flatnonzero(np.abs(rec[b - start: b - start + self._every]) > threshold)
            if seg.size:
                out.append(seg[0] / self.rate)
        return out

    def recording_locked(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)

    def since(self, wall: float) -> np.ndarray:
        """What the earpiece got from wall-clock time ``wall`` on (chunk resolution: one JACK period)."""
        with self._lock:
            keep = [c for c, w in zip(self._chunks, self._walls, strict=True) if w >= wall]
        return np.concatenate(keep) if keep else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        try:
            self.client.deactivate()
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def analyse(x: np.ndarray, rate: int, threshold: float = 1e-3) -> dict[str, Any]:
    """Onset (s), dominant frequency (Hz) and RMS of the sound in ``x`` (skipping the first 250 ms of sound)."""
    nz = np.nonzero(np.abs(x) > threshold)[0]
    if nz.size < rate // 4:
        return {"onset": None, "peak": None, "rms": 0.0, "seconds": nz.size / rate}
    seg = x[nz[0] + rate // 4: nz[0] + rate // 4 + rate]
    if seg.size < rate // 4:
        seg = x[nz[0]:]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    peak = (int(np.argmax(spec[1:])) + 1) * rate / seg.size
    return {"onset": nz[0] / rate, "peak": float(peak), "rms": float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))),
            "seconds": (nz[-1] - nz[0]) / rate}

"""A private PulseAudio server for audio tests: the desktop sound server a handset's card may belong to.

``PulseServer(tmp, mic_hz=440, card=None, card_hz=600)`` starts ``pulseaudio -n --daemonize=no`` with
only the modules a test needs, loaded with ``-L``: the native protocol on a socket in a private runtime
dir, a null sink ``speakers`` and a source ``mic`` (the desktop's default output and input). With
``card=N`` it also creates the nodes a server makes for ALSA card N, as a desktop server holding a USB
handset would: a sink ``handset_out`` and a source ``handset_in``, both carrying the property
``alsa.card=N`` that usbphone/audio/devices.py looks for.

The nodes are paced like sound cards. PulseAudio's virtual modules (null sink, sine source) run in blocks
of their maximum latency, 2 s, while no client asks for less, and do not wake early when one does: a new
stream then gets no callbacks for up to 2 s (measured: 1.3-2.0 s through ALSA's ``pulse`` PCM), which
a real card's period timer never does. So each microphone is the monitor of a null sink that ``pacat``
feeds a sox sine with a 10 ms latency (remapped to mono; ``mic_hz`` / ``card_hz``, amplitude 0.5), every
sink's monitor and every microphone is recorded from the start by ``parec`` with a 10 ms latency (which is
also how tests hear the "earpiece": ``recording(sink)``), and the server is ready once all recordings grow
steadily. All at 44100 Hz, the server's default rate: a recorder at another rate makes an idle null sink
switch rates when the next stream connects (measured: PortAudio's capture poll then failed in 2 of 4 opens).

Its runtime dir is a short dir under /tmp (a unix socket path may not exceed 107 bytes; pytest's tmp
paths can) and HOME is inside the test's tmp dir, so nothing of a real desktop session is touched and
nothing leaks out. As root pulseaudio warns ("not intended to be run as root") but runs in per-user mode,
which is what is wanted here (``--system`` would ignore the private runtime dir). ``env()`` is what a
client needs to find the server (PULSE_SERVER, PULSE_RUNTIME_PATH, XDG_RUNTIME_DIR, HOME); ``activate()``
puts it into this process and re-initialises PortAudio (ALSA re-reads its config, so ``default`` becomes
the server, as on a desktop); ``deactivate()`` undoes that. ``stop()`` ends the server and its clients by
PID and removes the runtime dir. Skips cleanly when pulseaudio, pactl/parec/pacat (pulseaudio-utils) or sox
is not installed. Edit when a test needs another kind of server node.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jackd import ProcessSoundServer

RATE = 44100  # rate of the sine feeds and of the recordings: the server's default rate, so no sink ever switches rate


class PulseProtocolServer(ProcessSoundServer):
    """What the PulseAudio and PipeWire (tests/pipewire.py) fixtures share: a pulse-protocol socket and pactl,
    a ``parec`` recorder per node, the wait until all of them deliver, and the server's log. Subclasses set
    ``rate``, ``recorders``, ``log_path``/``_log`` and implement ``env()``, ``pulse_process()`` and ``dead()``."""

    saved_keys = ("PULSE_SINK", "PULSE_SOURCE")  # set by the bridge's route through the server
    rate = RATE  # of the feeds and the recordings
    recorders: dict[str, Recorder]
    log_path: Path
    _log: Any

    def client_env(self) -> dict[str, str]:
        """What a pulse client (pactl, parec, pacat) needs to find this server."""
        return dict(os.environ) | self.env()

    def dead(self) -> list[str]:
        """Names of the server's processes that exited."""
        raise NotImplementedError

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10, env=self.client_env())
        if check and out.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {out.stderr.strip()}")
        return out

    def _settle(self, timeout: float = 20.0) -> None:
        """Wait until every recording grew in each of the last 5 polls (50 ms apart): the feeds play, every
        stream is linked and every node delivers in small blocks (a PulseAudio null sink may still be in the
        2 s block it started with, a PipeWire stream not yet linked by wireplumber)."""
        grew = dict.fromkeys(self.recorders, 0)
        sizes = {k: -1 for k in self.recorders}
        deadline = time.monotonic() + timeout
        while min(grew.values()) < 5:
            dead = self.dead()
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"the server's nodes did not settle ({grew}, exited: {dead}); "
                                   f"log:\n{self.log()[-3000:]}")
            time.sleep(0.05)
            for k, r in self.recorders.items():
                size = r.path.stat().st_size
                grew[k] = grew[k] + 1 if size > sizes[k] >= 0 else 0
                sizes[k] = size

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def recording(self, sink: str) -> np.ndarray:
        """Everything played into ``sink`` since the server started (its monitor, mono at ``rate``, -1..1)."""
        return self.recorders[sink].samples()


class PulseServer(PulseProtocolServer):

    def __init__(self, tmp: Path, mic_hz: float = 440.0, card: int | None = None, card_hz: float = 600.0) -> None:
        for tool, package in (("pulseaudio", "pulseaudio"), ("pactl", "pulseaudio-utils"),
                              ("parec", "pulseaudio-utils"), ("pacat", "pulseaudio-utils"), ("sox", "sox")):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} not installed (tools/setup.sh test installs {package})")
        self.card, self.mic_hz, self.card_hz = card, mic_hz, card_hz
        self.runtime = Path(tempfile.mkdtemp(prefix="upa-", dir="/tmp"))
        self.home = tmp / f"pulse-home-{self.runtime.name}"
        self.home.mkdir(parents=True)
        self.socket = self.runtime / "pulse" / "native"
        self.log_path = tmp / f"pulseaudio-{self.runtime.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        modules = [f"module-native-protocol-unix socket={self.socket}",
                   "module-null-sink sink_name=speakers", "module-null-sink sink_name=mic_feed",
                   "module-remap-source master=mic_feed.monitor source_name=mic channels=1"]
        self.sinks, self.sources, feeds = ["speakers"], ["mic"], {"mic_feed": mic_hz}
        if card is not None:
            props = f"alsa.card={card} device.description=Handset"
            modules += [f"module-null-sink sink_name=handset_out sink_properties='{props}'",
                        "module-null-sink sink_name=handset_feed",
                        f"module-remap-source master=handset_feed.monitor source_name=handset_in channels=1 "
                        f"source_properties='{props}'"]
            self.sinks.append("handset_out")
            self.sources.append("handset_in")
            feeds["handset_feed"] = card_hz
        self._clients: list[subprocess.Popen[bytes]] = []
        self.recorders: dict[str, Recorder] = {}
        argv = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                "--use-pid-file=no", "--log-target=stderr", "--log-level=info"]
        for m in modules:
            argv += ["-L", m]
        self.p = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=dict(os.environ) | self.env(), start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while self.pactl("info", check=False).returncode != 0:
                if self.p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pulseaudio did not start; its log:\n{self.log()[-3000:]}")
                time.sleep(0.1)
            self.pactl("set-default-sink", "speakers")
            self.pactl("set-default-source", "mic")
            for sink, hz in feeds.items():  # ~10 min of sine: more than any test runs
                self._clients.append(self._spawn(
                    f"sox -q -n -t raw -r {RATE} -e signed -b 16 -c 1 - synth 600 sine {hz:g} vol 0.5 | "
                    f"pacat -d {sink} --raw --format=s16le --rate={RATE} --channels=1 --latency-msec=10"))
            sources = {s: f"{s}.monitor" for s in self.sinks} | {s: s for s in self.sources}
            for name, source in sources.items():
                self.recorders[name] = Recorder(self.client_env(), source,
                                                tmp / f"{name}-{self.runtime.name}.raw", RATE)
            self._settle()
        except BaseException:
            self.stop()
            raise

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.socket.parent),
                "XDG_RUNTIME_DIR": str(self.runtime), "HOME": str(self.home)}

    def pulse_process(self) -> subprocess.Popen[bytes]:
        """The process answering on the pulse socket (a test crashes it)."""
        return self.p

    def dead(self) -> list[str]:
        return ["pulseaudio"] if self.p.poll() is not None else []

    def _spawn(self, command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sh", "-c", command], stdout=subprocess.DEVNULL, stderr=self._log,
                                stdin=subprocess.DEVNULL, env=dict(os.environ) | self.env(), start_new_session=True)

    def stop(self) -> None:
        try:
            self.deactivate()
        finally:
            for r in getattr(self, "recorders", {}).values():
                r.stop()
            for c in [*getattr(self, "_clients", []), self.p]:
                end_process(c)
            self._log.close()
            shutil.rmtree(self.runtime, ignore_errors=True)


def end_process(p: subprocess.Popen[bytes]) -> None:
    """TERM the process group of ``p`` (it was started in a new session), KILL it if it lingers."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


class Recorder:
    """``parec`` recording one source of a pulse-protocol server (PulseAudio, pipewire-pulse: tests/pipewire.py)
    as raw 16-bit mono at ``rate`` with a ``latency_ms`` latency, from the moment it is made."""

    def __init__(self, env: dict[str, str], source: str, path: Path, rate: int, latency_ms: int = 10) -> None:
        self.path = path
        self._out = open(path, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(["parec", "-d", source, "--raw", "--format=s16le", f"--rate={rate}",
                                   "--channels=1", f"--latency-msec={latency_ms}"],
                                  stdout=self._out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                  env=env, start_new_session=True)

    def samples(self) -> np.ndarray:
        if not self._out.closed:
            self._out.flush()
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768

    def stop(self) -> None:
        end_process(self.p)
        if not self._out.closed:
            self._out.close()

"""A private PulseAudio server for audio tests: the desktop sound server a handset's card may belong to.

``PulseServer(tmp, mic_hz=440, card=None, card_hz=600)`` starts ``pulseaudio -n --daemonize=no`` with
only the modules a test needs, loaded with ``-L``: the native protocol on a socket in a private runtime
dir, a null sink ``speakers`` and a sine source ``mic`` (the desktop's default output and input). With
``card=N`` it also creates the nodes a server makes for ALSA card N, as a desktop server holding a USB
handset would: a null sink ``handset_out`` and a source ``handset_in`` (a remap of a ``card_hz`` sine),
both carrying the property ``alsa.card=N`` that usbphone/audio/devices.py looks for.

Its runtime dir is a short dir under /tmp (a unix socket path may not exceed 107 bytes; pytest's tmp
paths can) and HOME is inside the test's tmp dir, so nothing of a real desktop session is touched and
nothing leaks out. As root pulseaudio warns ("not intended to be run as root") but runs in per-user mode,
which is what is wanted here (``--system`` would ignore the private runtime dir). ``env()`` is what a
client needs to find the server (PULSE_SERVER, PULSE_RUNTIME_PATH, XDG_RUNTIME_DIR, HOME); ``activate()``
puts it into this process and re-initialises PortAudio (ALSA re-reads its config, so ``default`` becomes
the server, as on a desktop); ``deactivate()`` undoes that. ``record(sink)`` records a sink's monitor with
``parec``. ``stop()`` ends the server by PID and removes the runtime dir. Skips cleanly when pulseaudio or
pactl/parec (pulseaudio-utils) is not installed. Edit when a test needs another kind of server node.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

RATE = 48000  # rate of the sine sources and of parec recordings


class PulseServer:
    def __init__(self, tmp: Path, mic_hz: float = 440.0, card: int | None = None, card_hz: float = 600.0) -> None:
        for tool, package in (("pulseaudio", "pulseaudio"), ("pactl", "pulseaudio-utils"),
                              ("parec", "pulseaudio-utils")):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} not installed (tools/setup.sh test installs {package})")
        self.card, self.mic_hz, self.card_hz = card, mic_hz, card_hz
        self._saved_env: dict[str, str | None] | None = None
        self.runtime = Path(tempfile.mkdtemp(prefix="upa-", dir="/tmp"))
        self.home = tmp / f"pulse-home-{self.runtime.name}"
        self.home.mkdir(parents=True)
        self.socket = self.runtime / "pulse" / "native"
        self.log_path = tmp / f"pulseaudio-{self.runtime.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        modules = [f"module-native-protocol-unix socket={self.socket}",
                   "module-null-sink sink_name=speakers",
                   f"module-sine-source source_name=mic rate={RATE} frequency={mic_hz:g}"]
        if card is not None:
            props = f"alsa.card={card} device.description=Handset"
            modules += [f"module-null-sink sink_name=handset_out sink_properties='{props}'",
                        f"module-sine-source source_name=handset_tone rate={RATE} frequency={card_hz:g}",
                        f"module-remap-source master=handset_tone source_name=handset_in source_properties='{props}'"]
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
        except BaseException:
            self.stop()
            raise

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.socket.parent),
                "XDG_RUNTIME_DIR": str(self.runtime), "HOME": str(self.home)}

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10,
                             env=dict(os.environ) | self.env())
        if check and out.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {out.stderr.strip()}")
        return out

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def activate(self) -> None:
        """Be this process's desktop sound server (re-initialises PortAudio)."""
        from usbphone.audio.stream import refresh_devices

        self._saved_env = {k: os.environ.get(k) for k in [*self.env(), "PULSE_SINK", "PULSE_SOURCE"]}
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

    def record(self, sink: str, path: Path) -> Recorder:
        """Record what is played into ``sink`` (its monitor source) until ``Recorder.stop()``."""
        return Recorder(self, f"{sink}.monitor", path)

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
            shutil.rmtree(self.runtime, ignore_errors=True)


class Recorder:
    """``parec`` recording one source as raw 16-bit mono at RATE; ``stop()`` returns the samples (-1..1)."""

    def __init__(self, server: PulseServer, source: str, path: Path) -> None:
        self.path = path
        self._out = open(path, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(["parec", "-d", source, "--raw", "--format=s16le", f"--rate={RATE}",
                                   "--channels=1", "--latency-msec=20"],
                                  stdout=self._out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                  env=dict(os.environ) | server.env(), start_new_session=True)
        self.started = time.time()

    def stop(self) -> np.ndarray:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        if not self._out.closed:
            self._out.close()
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768

"""A private PipeWire server for audio tests: the sound server of current desktops (Debian 12, Fedora, Ubuntu).

``PipeWireServer(tmp, mic_hz=440, card=None, card_hz=600)`` starts the three processes a desktop runs:
``pipewire`` (the graph), ``wireplumber`` (the session manager: it links streams to nodes and keeps the
default sink/source) and ``pipewire-pulse`` (PipeWire's PulseAudio-protocol server, through which ALSA's
``pulse`` PCM and the bridge reach it; devices.py's ``sound_server`` finds it as "pulse"). Its nodes are made
through pipewire-pulse with ``pactl load-module``, as in tests/pulse.py: a null sink ``speakers`` and a source
``mic`` (the remapped monitor of a null sink ``mic_feed`` that ``pacat`` feeds a sox sine of ``mic_hz``) are
the desktop's defaults; with ``card=N`` also ``handset_out`` / ``handset_in`` carrying ``alsa.card=N`` (as the
nodes of a USB handset's card held by the server would), fed with ``card_hz``. Every sink's monitor and every
source is recorded by ``parec`` at RATE (PipeWire's graph rate, so nothing is resampled on the way) from the
start; ``recording(sink)`` is how a test hears the "earpiece". Ready = ``pactl info`` answers and every
recording grows steadily (which also proves wireplumber linked the streams).

Headless, as root, without dbus or systemd: ``pipewire`` and ``pipewire-pulse`` use their packaged config and
only log that the session bus is missing (module-portal, rtkit); ``wireplumber`` 0.4 exits without a bus
unless its dbus users are off, so it gets its own wireplumber.conf (main + policy, no bluetooth/logind) and a
main.lua.d fragment that disables the ALSA/V4L2/libcamera monitors (the ALSA monitor's device reservation is
dbus; a test server must not grab the machine's cards anyway) and the flatpak portal. The fragment's name must
sort before 90-enable-all.lua, which acts on those switches. DBUS_SESSION_BUS_ADDRESS points at a socket that
does not exist, so a real session bus in the caller's environment is never touched either.

Runtime dir: a short dir under /tmp (unix socket paths are limited to 107 bytes); HOME, XDG_CONFIG_HOME and
XDG_STATE_HOME (wireplumber's remembered defaults) are inside the test's tmp dir. ``env()`` is what a client
needs (``client_env()``: the whole environment, minus any PIPEWIRE_*/PULSE_* settings of a real session);
``activate()`` / ``deactivate()`` come from ProcessSoundServer (tests/jackd.py), pactl, the recorders and the
wait for them from PulseProtocolServer (tests/pulse.py). ``stop()`` ends the
recorders, feeds and the three servers by PID (process groups) and removes the runtime dir. Skips cleanly when
a binary is missing (packages: pipewire-bin, pipewire-pulse, wireplumber, pulseaudio-utils, sox). Edit when a
test needs another kind of PipeWire node or another session-manager setting.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pulse import PulseProtocolServer, Recorder, end_process

RATE = 48000  # PipeWire's default graph rate (default.clock.rate): feeds and recordings run at it

TOOLS = (("pipewire", "pipewire-bin"), ("pipewire-pulse", "pipewire-pulse"), ("wireplumber", "wireplumber"),
         ("pactl", "pulseaudio-utils"), ("parec", "pulseaudio-utils"), ("pacat", "pulseaudio-utils"), ("sox", "sox"))

# wireplumber 0.4 without a session bus: main (default nodes, access, stream/device defaults) and policy
# (linking); bluetooth.lua (bluez, logind) left out. Modules as in /usr/share/wireplumber/wireplumber.conf.
WIREPLUMBER_CONF = """\
context.properties = { log.level = 2  wireplumber.script-engine = lua-scripting }
context.spa-libs = { audio.convert.* = audioconvert/libspa-audioconvert  support.* = support/libspa-support }
context.modules = [
  { name = libpipewire-module-protocol-native }
  { name = libpipewire-module-client-node }
  { name = libpipewire-module-client-device }
  { name = libpipewire-module-adapter }
  { name = libpipewire-module-metadata }
  { name = libpipewire-module-session-manager }
]
wireplumber.components = [
  { name = libwireplumber-module-lua-scripting, type = module }
  { name = main.lua, type = config/lua }
  { name = policy.lua, type = config/lua }
]
"""
# Sorts after 50-*-config.lua (which switch the monitors on) and before 90-enable-all.lua (which acts on them).
WIREPLUMBER_MAIN_LUA = ("60-usbphone-test.lua", """\
alsa_monitor.enabled = false
v4l2_monitor.enabled = false
libcamera_monitor.enabled = false
default_access.properties["enable-flatpak-portal"] = false
""")


class PipeWireServer(PulseProtocolServer):
    rate = RATE  # of the feeds and the recordings

    def __init__(self, tmp: Path, mic_hz: float = 440.0, card: int | None = None, card_hz: float = 600.0) -> None:
        for tool, package in TOOLS:
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} not installed (tools/setup.sh test installs {package})")
        self.card, self.mic_hz, self.card_hz = card, mic_hz, card_hz
        self.runtime = Path(tempfile.mkdtemp(prefix="upw-", dir="/tmp"))
        self.home = tmp / f"pipewire-home-{self.runtime.name}"
        wp = self.home / ".config" / "wireplumber"
        (wp / "main.lua.d").mkdir(parents=True)
        (wp / "wireplumber.conf").write_text(WIREPLUMBER_CONF)
        (wp / "main.lua.d" / WIREPLUMBER_MAIN_LUA[0]).write_text(WIREPLUMBER_MAIN_LUA[1])
        self.socket = self.runtime / "pulse" / "native"
        self.log_path = tmp / f"pipewire-{self.runtime.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.servers: list[subprocess.Popen[bytes]] = []
        self._clients: list[subprocess.Popen[bytes]] = []
        self.recorders: dict[str, Recorder] = {}
        try:
            self._start_servers()
            self._make_nodes(tmp)
            self._settle()
        except BaseException:
            self.stop()
            raise

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.socket.parent),
                "XDG_RUNTIME_DIR": str(self.runtime), "PIPEWIRE_RUNTIME_DIR": str(self.runtime),
                "HOME": str(self.home)}

    def client_env(self) -> dict[str, str]:
        """This process's environment for a client of this server only: a PIPEWIRE_*/PULSE_*/WIREPLUMBER_*
        setting inherited from a real session (PIPEWIRE_REMOTE, PULSE_SINK, a config dir...) is left out."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PIPEWIRE_", "PULSE_", "WIREPLUMBER_"))}
        return inherited | self.env() | {"PIPEWIRE_REMOTE": "pipewire-0"}

    def _server_env(self) -> dict[str, str]:
        return self.client_env() | {
            "XDG_CONFIG_HOME": str(self.home / ".config"), "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.runtime}/no-session-bus", "DISPLAY": "",
            "PIPEWIRE_LOG_SYSTEMD": "false"}

    def _start_servers(self) -> None:
        pw_socket = self.runtime / "pipewire-0"
        self.servers.append(self._server("pipewire"))
        self._wait(lambda: _listening(pw_socket), "pipewire did not open its socket")
        self.servers.append(self._server("wireplumber"))
        self.servers.append(self._server("pipewire-pulse"))
        self._wait(lambda: self.pactl("info", check=False).returncode == 0, "pipewire-pulse did not answer")

    def _server(self, binary: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([binary], stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self._server_env(), start_new_session=True)

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [p.args[0] for p in self.servers if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"{what} (exited: {dead}); log:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def _make_nodes(self, tmp: Path) -> None:
        modules = ["module-null-sink sink_name=speakers", "module-null-sink sink_name=mic_feed",
                   "module-remap-source master=mic_feed.monitor source_name=mic channels=1"]
        self.sinks, self.sources, feeds = ["speakers"], ["mic"], {"mic_feed": self.mic_hz}
        if self.card is not None:
            props = f"alsa.card={self.card} device.description=Handset"
            modules += [f"module-null-sink sink_name=handset_out sink_properties='{props}'",
                        "module-null-sink sink_name=handset_feed",
                        f"module-remap-source master=handset_feed.monitor source_name=handset_in channels=1 "
                        f"source_properties='{props}'"]
            self.sinks.append("handset_out")
            self.sources.append("handset_in")
            feeds["handset_feed"] = self.card_hz
        for m in modules:
            self.pactl("load-module", *_split(m))
        self.pactl("set-default-sink", "speakers")
        self.pactl("set-default-source", "mic")
        for sink, hz in feeds.items():  # ~10 min of sine: more than any test runs
            self._clients.append(subprocess.Popen(
                ["sh", "-c", f"sox -q -n -t raw -r {RATE} -e signed -b 16 -c 1 - synth 600 sine {hz:g} vol 0.5 | "
                             f"pacat -d {sink} --raw --format=s16le --rate={RATE} --channels=1 --latency-msec=20"],
                stdout=subprocess.DEVNULL, stderr=self._log, stdin=subprocess.DEVNULL,
                env=self.client_env(), start_new_session=True))
        sources = {s: f"{s}.monitor" for s in self.sinks} | {s: s for s in self.sources}
        for name, source in sources.items():
            path = tmp / f"{name}-{self.runtime.name}.raw"
            self.recorders[name] = Recorder(self.client_env(), source, path, RATE, latency_ms=20)

    def pulse_process(self) -> subprocess.Popen[bytes]:
        """The process answering on the pulse socket, pipewire-pulse (a test crashes it)."""
        return next(p for p in self.servers if p.args[0] == "pipewire-pulse")

    def dead(self) -> list[str]:
        return [p.args[0] for p in self.servers if p.poll() is not None]

    def stop(self) -> None:
        try:
            self.deactivate()
        finally:
            for r in self.recorders.values():
                r.stop()
            for p in [*self._clients, *reversed(self.servers)]:
                end_process(p)
            self._log.close()
            shutil.rmtree(self.runtime, ignore_errors=True)


def _split(module: str) -> list[str]:
    """``pactl load-module`` arguments: the module name, then its arguments as one string."""
    name, _, args = module.partition(" ")
    return [name, args] if args else [name]


def _listening(path: Path) -> bool:
    import socket

    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True

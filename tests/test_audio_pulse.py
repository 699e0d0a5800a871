"""The desktop case against the real sound servers a desktop runs, each test once per server: PulseAudio
(tests/pulse.py) and PipeWire with wireplumber and pipewire-pulse (tests/pipewire.py, as Debian 12, Fedora and
Ubuntu desktops run it). Finding the server, the nodes it made for a handset's card, and calls whose audio goes
through it to a real baresip peer.

The bridge reaches either server through its PulseAudio-protocol socket: ALSA's ``pulse`` PCM
(libasound2-plugins), which is ``default`` while a pulse server answers (/etc/alsa/conf.d/99-pulse.conf from
the pulseaudio package). A call through the server's default nodes (no handset, no device named), a call for a
handset whose ALSA card the server holds (the bridge must pick the ``pulse`` PCM pointed at that card's nodes
by itself), and ``usbphone call --audio-device pulse``. The servers' microphones play 440 Hz (desktop default)
and 600 Hz (handset), baresip sends 1 kHz, and the sinks' monitors are recorded. Checked: frequencies within
1 %, each tone in the right node only, the route said once in the log. Edit when the routing or a fixture changes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_phone import Phone
from jackd import analyse
from peers import Baresip
from pipewire import PipeWireServer
from pulse import PulseServer

from usbphone.audio import devices as dv

pytestmark = [pytest.mark.audio]

CARD = 7  # the handset's ALSA card number in the fake sysfs tree; no such card exists in ALSA here


@pytest.fixture(params=[PulseServer, PipeWireServer], ids=["pulseaudio", "pipewire"])
def desktop(request: pytest.FixtureRequest) -> Any:
    """The server class a test runs against (each has ``rate``: its recordings' sample rate)."""
    return request.param


def fake_handset(root: Path, card: int) -> Path:
    """The sysfs layout of a USB handset (the USB device, its audio interface with sound/cardN, its HID
    interface with hidraw), as in tests/test_audio_devices.py: USB hardware is the one thing tests fake."""
    dev = root / "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"
    dev.mkdir(parents=True)
    (dev / "idVendor").write_text("0b0e\n")
    (dev / "busnum").write_text("1\n")
    sound = dev / "1-2:1.0" / "sound" / f"card{card}"
    sound.mkdir(parents=True)
    (sound / "id").write_text("Handset\n")
    hidraw = dev / "1-2:1.3" / "0003:0B0E:0307.0001" / "hidraw" / "hidraw0"
    hidraw.mkdir(parents=True)
    return hidraw


def listing() -> list[dict[str, Any]]:
    import sounddevice as sd

    return [dict(d) for d in sd.query_devices()]


def test_server_detection_nodes_and_route(tmp_path: Path, desktop: Any) -> None:
    server = desktop(tmp_path, card=CARD)
    try:
        env = server.env()
        assert ("on PipeWire" in server.pactl("info").stdout) == (desktop is PipeWireServer)  # who answers
        assert dv.sound_server(env) == "pulse"
        assert dv.sound_server({"PULSE_RUNTIME_PATH": env["PULSE_RUNTIME_PATH"]}) == "pulse"
        assert dv.sound_server({"XDG_RUNTIME_DIR": env["XDG_RUNTIME_DIR"]}) == "pulse"
        assert dv.server_nodes(dv.SoundCard(CARD, "Handset", ""), env=env) == ("handset_out", "handset_in")
        assert dv.server_nodes(dv.SoundCard(CARD + 1, "Other", ""), env=env) == (None, None)
        server.activate()
        devices = listing()
        pulse = next(i for i, d in enumerate(devices) if d["name"] == "pulse")
        assert dv.resolve("pulse", devices) == (pulse, pulse)
        routed_env = dict(env)
        assert dv.route_through_server(dv.SoundCard(CARD, "Handset", ""), devices, routed_env) == pulse
        assert (routed_env["PULSE_SINK"], routed_env["PULSE_SOURCE"]) == ("handset_out", "handset_in")
        other_env = dict(env)  # a card the server does not hold: not routed to the desktop's speakers
        assert dv.route_through_server(dv.SoundCard(CARD + 1, "Other", ""), devices, other_env) is None
        assert "PULSE_SINK" not in other_env
        crashed = server.pulse_process()
        os.killpg(crashed.pid, signal.SIGKILL)  # a crashed server leaves its socket file behind
        crashed.wait(5)
        assert server.socket.exists()
        assert dv.sound_server(env) is None
        assert dv.route_through_server(dv.SoundCard(CARD, "Handset", ""), devices, dict(env)) is None
    finally:
        server.stop()


def peer_heard(peer: Baresip) -> dict[str, Any]:
    dec = sorted(peer.rec.glob("*dec.wav"))
    assert dec, f"baresip recorded nothing: {peer.log()[-2000:]}"
    with wave.open(str(dec[0])) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
        return analyse(x[:: w.getnchannels()], w.getframerate(), threshold=0.01)


def restarts(phone: Phone) -> int:
    """Streams that ended at start-up and were re-opened quietly. Through ALSA's ``pulse`` PCM a duplex stream
    may die in its first callbacks: the plugin returns -EIO from snd_pcm_delay while the server has no timing
    data yet (alsa-project/alsa-plugins#65) and PortAudio 19.6 ends the stream on it ("ContinuePoll ... line
    3355", PortAudio/portaudio#758); the bridge re-opens it without calling it a lost device. Printed."""
    return sum(1 for what, _ in phone.notes if what == "audio_restart")


def callback_errors(stats: dict) -> int:
    """Exceptions in the stream callback (the pulse PCM once called back with blocks down to 1 frame, which
    an earlier bridge's buffers mishandled; the callback now asks PortAudio for fixed 20 ms blocks)."""
    s = stats["stream"]
    if s["errors"]:
        print(f"stream callback errors: {s['errors']} (last: {s['last_error']})")
    return int(s["errors"])


def call_through(server: Any, tmp_path: Path, handset_syspath: str | None = None) -> tuple[dict, dict, Phone]:
    """One 5 s call to a baresip auto-answer peer; (bridge stats, what the peer heard, the phone)."""
    with ExitStack() as stack:
        peer = Baresip(tmp_path)
        stack.callback(peer.stop)
        phone = Phone(device=None, handset_syspath=handset_syspath)
        stack.callback(phone.close)
        stats = phone.call(peer.uri(), seconds=5)
    return stats, peer_heard(peer), phone


@pytest.mark.peers
def test_call_through_the_desktop_servers_default_nodes(tmp_path: Path, desktop: Any) -> None:
    server = desktop(tmp_path, mic_hz=440)
    try:
        server.activate()
        stats, mic, phone = call_through(server, tmp_path)
        ear = analyse(server.recording("speakers"), server.rate, threshold=0.01)
    finally:
        server.stop()
    print("bridge stats:", stats)
    faults = [d for what, d in phone.notes if what == "audio_fault"]
    print("faults:", faults, "start-up re-opens:", restarts(phone))
    assert callback_errors(stats) == 0
    assert not faults and restarts(phone) <= 2  # a start-up re-open is not a lost device (no hang-up)
    opened = [d for what, d in phone.notes if what == "audio_open"]
    assert opened and opened[0]["devices"][1] == "default", opened
    print(f"peer heard the desktop microphone: {mic}; the desktop speakers got: {ear}")
    assert mic["peak"] == pytest.approx(440, rel=0.01)
    assert ear["peak"] == pytest.approx(1000, rel=0.01) and ear["seconds"] > 3


@pytest.mark.peers
def test_handset_card_held_by_the_server_is_reached_through_it(tmp_path: Path, desktop: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The handset's card N is not one PortAudio can open (here: absent from ALSA; on a desktop: held busy by
    the server, and PortAudio leaves out a hw device it cannot open), the server has nodes for card N: the
    bridge goes through the server to those nodes, not to the desktop's default ones, and says so once."""
    hidraw = fake_handset(tmp_path, CARD)
    server = desktop(tmp_path, mic_hz=440, card=CARD, card_hz=600)
    caplog.set_level(logging.INFO, logger="usbphone.audio")
    try:
        server.activate()
        stats, mic, phone = call_through(server, tmp_path, str(hidraw))
        ear = analyse(server.recording("handset_out"), server.rate, threshold=0.01)
        desk = analyse(server.recording("speakers"), server.rate, threshold=0.01)
    finally:
        server.stop()
    print("bridge stats:", stats)
    faults = [d for what, d in phone.notes if what == "audio_fault"]
    print("faults:", faults, "start-up re-opens:", restarts(phone),  # re-opened at start-up: see restarts()
          "closed:", [(d["why"], d["seconds"], d["callbacks"]) for what, d in phone.notes if what == "audio_closed"])
    assert not faults and restarts(phone) <= 2, faults
    assert callback_errors(stats) == 0
    routed = [r for r in caplog.records if "held by the sound server" in r.getMessage()]
    assert len(routed) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    print(f"peer heard the handset microphone: {mic}; the handset earpiece got: {ear}; the desktop speakers: {desk}")
    assert mic["peak"] == pytest.approx(600, rel=0.01)
    assert ear["peak"] == pytest.approx(1000, rel=0.01) and ear["seconds"] > 3
    assert desk["peak"] is None  # nothing went to the desktop's speakers


@pytest.mark.peers
def test_usbphone_call_with_audio_device_pulse(tmp_path: Path, desktop: Any) -> None:
    """`usbphone call URI --audio-device pulse` from a desktop session: the call's audio goes through the
    server's default nodes both ways (the user-facing form of the first call test)."""
    server = desktop(tmp_path, mic_hz=440)
    try:
        with ExitStack() as stack:
            peer = Baresip(tmp_path)
            stack.callback(peer.stop)
            out = subprocess.run([sys.executable, "-m", "usbphone.cli", "call", peer.uri(), "--duration", "5",
                                  "--audio-device", "pulse", "--bind", "127.0.0.1:0"],
                                 capture_output=True, text=True, timeout=60, cwd=tmp_path,
                                 env=dict(os.environ) | server.env())
        ear = analyse(server.recording("speakers"), server.rate, threshold=0.01)
    finally:
        server.stop()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    mic = peer_heard(peer)
    print(f"usbphone call: peer heard {mic}; the desktop speakers got {ear}")
    assert mic["peak"] == pytest.approx(440, rel=0.01)
    assert ear["peak"] == pytest.approx(1000, rel=0.01) and ear["seconds"] > 3

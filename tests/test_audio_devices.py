"""Which sound card belongs to a handset: a fake sysfs tree, umockdev, PortAudio name matching, settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from umockdev_devices import FakeUsbDevice, uhid_description, umockdev_available

from usbphone.audio import devices as dv

USB = "sys/devices/pci0000:00/0000:00:14.0/usb1"


def make_usb(root: Path, port: str, card: int | None, card_id: str = "Headset", hid_intf: int = 3) -> Path:
    """A USB device dir as the kernel lays it out: the device, an audio interface with sound/cardN, and a
    HID interface with hid/hidraw children."""
    dev = root / USB / port
    dev.mkdir(parents=True)
    (dev / "idVendor").write_text("0b0e\n")
    (dev / "busnum").write_text("1\n")
    if card is not None:
        c = dev / f"{port}:1.0" / "sound" / f"card{card}"
        c.mkdir(parents=True)
        (c / "id").write_text(card_id + "\n")
        (c / f"controlC{card}").mkdir()
    hidraw = dev / f"{port}:1.{hid_intf}" / "0003:0B0E:0307.0001" / "hidraw" / f"hidraw{card or 0}"
    hidraw.mkdir(parents=True)
    return hidraw


def test_two_identical_headsets_get_their_own_cards(tmp_path: Path) -> None:
    a = make_usb(tmp_path, "1-2", 1)
    b = make_usb(tmp_path, "1-3", 2)
    ca, cb = dv.card_for_handset(a), dv.card_for_handset(b)
    assert ca is not None and cb is not None
    assert (ca.index, ca.id, ca.hw) == (1, "Headset", "hw:1,0")
    assert (cb.index, cb.hw) == (2, "hw:2,0")
    assert ca.usb_path.endswith("1-2") and cb.usb_path.endswith("1-3")


def test_handset_without_sound_card_or_usb_parent(tmp_path: Path) -> None:
    assert dv.card_for_handset(make_usb(tmp_path, "1-4", None)) is None
    uhid = tmp_path / "sys/devices/virtual/misc/uhid/0003:0B0E:0307.0002/hidraw/hidraw7"
    uhid.mkdir(parents=True)
    assert dv.usb_device_of(uhid) is None and dv.card_for_handset(uhid) is None


def test_symlinked_class_path_resolves_to_the_device(tmp_path: Path) -> None:
    real = make_usb(tmp_path, "1-2", 3)
    link = tmp_path / "sys/class/hidraw/hidraw3"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    card = dv.card_for_handset(link)
    assert card is not None and card.index == 3


def test_card_rates_from_proc(tmp_path: Path) -> None:
    # format of /proc/asound/cardN/stream0 as snd-usb-audio writes it (sound/usb/proc.c)
    (tmp_path / "card1").mkdir()
    (tmp_path / "card1/stream0").write_text(
        "Yealink USB-P1K : USB Audio\n\nPlayback:\n  Status: Stop\n  Interface 1\n    Altset 1\n"
        "    Format: S16_LE\n    Channels: 1\n    Endpoint: 0x02 (2 OUT) (ADAPTIVE)\n    Rates: 8000\n\n"
        "Capture:\n  Interface 2\n    Altset 1\n    Format: S16_LE\n    Channels: 1\n    Rates: 8000\n")
    (tmp_path / "card2").mkdir()
    (tmp_path / "card2/stream0").write_text("Playback:\n    Rates: 16000, 32000, 48000\nCapture:\n    Rates: 16000\n")
    (tmp_path / "card3").mkdir()
    (tmp_path / "card3/stream0").write_text("Playback:\n    Rates: 8000 - 48000 (continuous)\n")
    p1k = dv.SoundCard(1, "P1K", "")
    assert dv.card_rates(p1k, str(tmp_path)) == [8000]
    assert dv.native_rate(dv.card_rates(p1k, str(tmp_path))) == 8000
    assert dv.native_rate(dv.card_rates(dv.SoundCard(2, "H", ""), str(tmp_path))) == 16000
    assert dv.native_rate(dv.card_rates(dv.SoundCard(3, "H", ""), str(tmp_path))) == 16000
    assert dv.native_rate([44100]) == 44100 and dv.native_rate([]) is None


def pa(name: str, ins: int = 1, outs: int = 2, rate: float = 48000.0) -> dict:
    return {"name": name, "max_input_channels": ins, "max_output_channels": outs, "default_samplerate": rate}


DEVICES = [
    pa("HDA Intel PCH: ALC892 Analog (hw:0,0)", 2, 2),
    pa("Jabra EVOLVE 30 II: USB Audio (hw:1,0)", 1, 2),
    pa("Jabra EVOLVE 30 II: USB Audio (hw:2,0)", 1, 2),
    pa("Yealink USB-P1K: USB Audio (hw:3,0)", 1, 1, 8000.0),
    pa("pulse", 32, 32),
    pa("default", 32, 32),
    pa("HDMI only (hw:0,3)", 0, 8),
]


def test_portaudio_index_by_card_number_at_open_time() -> None:
    assert dv.portaudio_index(dv.SoundCard(2, "II", ""), DEVICES) == 2
    assert dv.portaudio_index(dv.SoundCard(3, "P1K", ""), DEVICES) == 3
    assert dv.portaudio_index(dv.SoundCard(9, "gone", ""), DEVICES) is None


def test_resolve_names(tmp_path: Path) -> None:
    (tmp_path / "card3").mkdir()
    os.symlink("card3", tmp_path / "P1K")  # /proc/asound/<id> -> cardN, as ALSA makes it
    assert dv.resolve("hw:1", DEVICES) == (1, 1)
    assert dv.resolve("hw:2,0", DEVICES) == (2, 2)
    assert dv.resolve("hw:CARD=P1K", DEVICES, proc_root=str(tmp_path)) == (3, 3)
    assert dv.resolve("P1K", DEVICES, proc_root=str(tmp_path)) == (3, 3)
    assert dv.resolve("pulse", DEVICES) == (4, 4)
    assert dv.resolve("4", DEVICES) == (4, 4)
    assert dv.resolve("", DEVICES, default=(5, 5)) == (5, 5)
    with pytest.raises(dv.AudioDeviceError, match="ambiguous"):
        dv.resolve("Jabra", DEVICES)
    with pytest.raises(dv.AudioDeviceError, match="available: .*pulse"):
        dv.resolve("nonesuch", DEVICES)
    with pytest.raises(dv.AudioDeviceError, match="not found"):
        dv.resolve("hw:7", DEVICES)
    with pytest.raises(dv.AudioDeviceError, match="microphone and an earpiece"):
        dv.resolve("HDMI", DEVICES)
    with pytest.raises(dv.AudioDeviceError, match="no default"):
        dv.resolve(None, DEVICES, default=(-1, -1))


def test_sound_server_detection_and_nodes(tmp_path: Path) -> None:
    assert dv.sound_server({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "pulse").mkdir()
    with socket.socket(socket.AF_UNIX) as stale:  # a socket file nobody listens on: a killed server's leftover
        stale.bind(str(tmp_path / "pulse/native"))
        assert dv.sound_server({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "pulse/native").unlink()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "pulse/native"))
        server.listen()
        assert dv.sound_server({"XDG_RUNTIME_DIR": str(tmp_path)}) == "pulse"
        assert dv.sound_server({"PULSE_RUNTIME_PATH": str(tmp_path / "pulse")}) == "pulse"
        assert dv.sound_server({"PULSE_SERVER": f"{{abc}}unix:{tmp_path}/pulse/native"}) == "pulse"
        assert dv.sound_server({"PULSE_SERVER": f"/nonexistent/native {tmp_path}/pulse/native"}) == "pulse"
    assert dv.sound_server({"PULSE_SERVER": "unix:/nonexistent/native"}) is None
    assert dv.sound_server({"PULSE_SERVER": "tcp:host:4713"}) == "pulse"
    # the shape of `pactl -f json list sinks|sources` (PulseAudio 16 / pipewire-pulse)
    listing = json.dumps([
        {"name": "alsa_output.pci-0000_00_1f.3.analog-stereo", "properties": {"alsa.card": "0"}},
        {"name": "alsa_output.usb-GN_Netcom_Jabra_EVOLVE_30_II-00.analog-stereo", "properties": {"alsa.card": "2"}},
        {"name": "alsa_output.usb-GN_Netcom_Jabra_EVOLVE_30_II-00.analog-stereo.monitor",
         "properties": {"alsa.card": "2"}},
    ])
    sink, source = dv.server_nodes(dv.SoundCard(2, "II", ""), listing)
    assert sink == source == "alsa_output.usb-GN_Netcom_Jabra_EVOLVE_30_II-00.analog-stereo"
    assert dv.server_nodes(dv.SoundCard(5, "x", ""), listing) == (None, None)
    assert dv.server_nodes(dv.SoundCard(5, "x", ""), "not json") == (None, None)


@pytest.mark.umockdev
def test_card_for_handset_under_umockdev(tmp_path: Path) -> None:
    """The real libc path (realpath, scandir, reads) through umockdev's emulated /sys."""
    if not umockdev_available():
        pytest.skip("umockdev not installed")
    headset = FakeUsbDevice(0x0B0E, 0x0307, serial="A1", port="1-2", hidraw="hidraw0", sound_card=1,
                            product="Jabra Link 380")
    twin = FakeUsbDevice(0x0B0E, 0x0307, serial="A2", port="1-3", hidraw="hidraw1", sound_card=2, devnum=3, instance=3,
                         product="Jabra Link 380")
    bare = FakeUsbDevice(0x6993, 0xB001, port="1-4", kind="usb", devnum=4)
    desc = tmp_path / "devs.umockdev"
    desc.write_text(headset.description() + "\n" + twin.description() + "\n" + bare.description() + "\n"
                    + uhid_description(0x0B0E, 0x0307, hidraw="hidraw5"))
    probe = (
        "import json, sys\nfrom usbphone.audio.devices import card_for_handset as f\n"
        "out = {}\nfor p in sys.argv[1:]:\n    c = f('/sys' + p)\n    out[p] = c and [c.index, c.id]\n"
        "print(json.dumps(out))\n"
    )
    paths = [headset.hidraw_syspath, twin.hidraw_syspath, bare.usb_syspath,
             "/devices/virtual/misc/uhid/0006:0B0E:0307.0002/hidraw/hidraw5"]
    out = subprocess.run(["umockdev-run", "-d", str(desc), "--", sys.executable, "-c", probe, *paths],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got[headset.hidraw_syspath] == [1, "JabraLink380"]
    assert got[twin.hidraw_syspath] == [2, "JabraLink380"]
    assert got[bare.usb_syspath] is None
    assert got[paths[3]] is None

"""Which sound device a handset's audio goes through: sysfs matching, PortAudio names, sound-server routing.

A USB handset or headset is one USB device with several interfaces: HID (keys, hook) and USB Audio Class
(earpiece, microphone), the latter bound by snd-usb-audio as ALSA card N. So the card that belongs to a
handset is the one whose sysfs node sits under the same USB device (``idVendor`` dir) as the handset's
hidraw/USB interface node. The card is then found in PortAudio's list by its *number at open time*
(ALSA devices are named ``"<card name>: USB Audio (hw:N,0)"``), never by a remembered PortAudio index:
indices change after replug, and two identical headsets differ only in N.

Where a desktop sound server (PulseAudio, or PipeWire's pulse server) owns the card, opening ``hw:N`` fails
busy; ``route()`` then goes through the server's ALSA PCM (``pulse``) with PULSE_SINK/PULSE_SOURCE set to the
server's nodes for that card. Edit this module when a new way of naming or reaching a card turns up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Preferred device rates, best first: 16 kHz is the bridge's own rate (no resampling), 48 kHz is what most
# headsets' UAC interfaces offer; 8 kHz-only devices (source: ../shared/protocols/usb-phone-protocols.md §2:
# Yealink P1K "8 kHz, 16-bit mono in practice") just get 8 kHz.
PREFERRED_RATES = (16000, 48000, 32000, 44100, 24000, 8000)


class AudioDeviceError(ValueError):
    """No usable sound device for the given name/handset (message lists what exists)."""


@dataclass(frozen=True)
class SoundCard:
    index: int  # ALSA card number N (changes with plug order)
    id: str  # ALSA card id, e.g. "P1K", "Headset" (from sysfs cardN/id)
    usb_path: str  # sysfs path of the USB device the card belongs to

    @property
    def hw(self) -> str:
        return f"hw:{self.index},0"


# --- sysfs --------------------------------------------------------------------------------------------


def usb_device_of(syspath: str | os.PathLike[str]) -> Path | None:
    """The USB device node (the dir with ``idVendor``/``busnum``) at or above ``syspath``; None if there is none
    (uhid/virtual handsets, Bluetooth)."""
    p = Path(os.path.realpath(syspath))
    for _ in range(12):
        if (p / "idVendor").is_file() and (p / "busnum").is_file():
            return p
        if p.parent == p:
            return None
        p = p.parent
    return None


def cards_of_usb_device(usb_path: str | os.PathLike[str]) -> list[SoundCard]:
    """ALSA cards whose sysfs node is under this USB device (``<usb>/<intf>/sound/cardN``)."""
    usb = Path(usb_path)
    found = []
    for card_dir in sorted(usb.glob("*/sound/card[0-9]*")):
        m = re.fullmatch(r"card(\d+)", card_dir.name)
        if not m:
            continue
        card_id = _read(card_dir / "id") or f"card{m.group(1)}"
        found.append(SoundCard(int(m.group(1)), card_id, str(usb)))
    return found


def card_for_handset(syspath: str | os.PathLike[str]) -> SoundCard | None:
    """The sound card that shares the USB device with the handset node at ``syspath`` (hidraw, interface…)."""
    usb = usb_device_of(syspath)
    if usb is None:
        return None
    cards = cards_of_usb_device(usb)
    return cards[0] if cards else None


def card_rates(card: SoundCard, proc_root: str = "/proc/asound") -> list[int]:
    """Sample rates the card's USB streams offer, from ``/proc/asound/cardN/stream*`` (``Rates: 8000, 16000``)."""
    rates: set[int] = set()
    for stream in sorted(Path(proc_root, f"card{card.index}").glob("stream*")):
        text = _read(stream) or ""
        for line in re.findall(r"Rates:\s*([^\n]+)", text):
            if "continuous" in line:
                lo, hi = (int(x) for x in re.findall(r"\d+", line)[:2])
                rates.update(r for r in PREFERRED_RATES if lo <= r <= hi)
            else:
                rates.update(int(x) for x in re.findall(r"\d+", line))
    return sorted(rates)


def native_rate(rates: list[int]) -> int | None:
    """The rate to open a card at, from what it offers (see PREFERRED_RATES)."""
    for r in PREFERRED_RATES:
        if r in rates:
            return r
    return max(rates) if rates else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


# --- PortAudio ------------------------------------------------------------------------------------------


def portaudio_index(card: SoundCard, devices: list[dict[str, Any]]) -> int | None:
    """The PortAudio device for card N: the one whose name ends in ``(hw:N,0)`` (ALSA host API)."""
    tag = f"(hw:{card.index},0)"
    for i, d in enumerate(devices):
        if str(d["name"]).endswith(tag):
            return i
    return None


def resolve(name: str | None, devices: list[dict[str, Any]], default: tuple[int, int] | None = None,
            proc_root: str = "/proc/asound") -> tuple[int, int]:
    """(input index, output index) for a user-given device name; raises AudioDeviceError listing the choices.

    Accepted: ``hw:N`` / ``hw:N,0`` / ``hw:CARD=ID`` / an ALSA card id (matched via the ``(hw:N,0)`` suffix and
    /proc/asound), a PortAudio index, an exact device name, or a unique part of one. Empty = the default.
    """
    if not name:
        if default is None or default[0] < 0 or default[1] < 0:
            raise AudioDeviceError("no default sound device; " + describe(devices))
        return default
    text = name.strip()
    if text.isdigit() and int(text) < len(devices):
        return int(text), int(text)
    m = re.fullmatch(r"hw:(?:CARD=)?([^,]+)(?:,\d+)?", text)
    if m:
        card = m.group(1)
        number = int(card) if card.isdigit() else _card_number(card, proc_root)
        if number is not None:
            idx = portaudio_index(SoundCard(number, card, ""), devices)
            if idx is not None:
                return idx, idx
        raise AudioDeviceError(f"sound card {text!r} not found; " + describe(devices))
    exact = [i for i, d in enumerate(devices) if str(d["name"]).lower() == text.lower()]
    partial = [i for i, d in enumerate(devices) if text.lower() in str(d["name"]).lower()]
    for candidates in (exact, partial):
        ins = [i for i in candidates if devices[i]["max_input_channels"] > 0]
        outs = [i for i in candidates if devices[i]["max_output_channels"] > 0]
        if ins and outs:
            if len(ins) > 1 or len(outs) > 1:
                both = [i for i in ins if i in outs]
                if len(both) != 1:
                    raise AudioDeviceError(f"sound device {text!r} is ambiguous; " + describe(devices))
                return both[0], both[0]
            return ins[0], outs[0]
    number = _card_number(text, proc_root)
    if number is not None:
        idx = portaudio_index(SoundCard(number, text, ""), devices)
        if idx is not None:
            return idx, idx
    raise AudioDeviceError(f"no sound device with a microphone and an earpiece matches {text!r}; "
                           + describe(devices))


def _card_number(card_id: str, proc_root: str = "/proc/asound") -> int | None:
    """ALSA card number for a card id (``/proc/asound/<id>`` is a symlink to ``cardN``)."""
    link = Path(proc_root, card_id)
    try:
        target = os.readlink(link)
    except OSError:
        return None
    m = re.fullmatch(r"card(\d+)", os.path.basename(target))
    return int(m.group(1)) if m else None


def describe(devices: list[dict[str, Any]]) -> str:
    duplex = [f"{d['name']!r}" for d in devices if d["max_input_channels"] > 0 and d["max_output_channels"] > 0]
    if not duplex:
        return "PortAudio lists no duplex sound devices (is a sound server or card present?)"
    return "available: " + ", ".join(duplex)


# --- sound servers ---------------------------------------------------------------------------------------


def sound_server(env: dict[str, str] | None = None) -> str | None:
    """"pulse" when a PulseAudio-protocol server (PulseAudio or pipewire-pulse) is reachable, else None."""
    env = dict(os.environ) if env is None else env
    server = env.get("PULSE_SERVER", "")
    if server:
        path = server.removeprefix("unix:")
        return "pulse" if not server.startswith("unix:") or os.path.exists(path) else None
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return "pulse" if os.path.exists(os.path.join(runtime, "pulse", "native")) else None


def server_nodes(card: SoundCard, pactl_json: str | None = None) -> tuple[str | None, str | None]:
    """(sink name, source name) the sound server created for ALSA card N (property ``alsa.card``)."""
    def listing(kind: str) -> list[dict[str, Any]]:
        text = pactl_json if pactl_json is not None else _pactl("list", kind)
        try:
            data = json.loads(text or "[]")
        except ValueError:
            return []
        return data if isinstance(data, list) else []

    def pick(items: list[dict[str, Any]]) -> str | None:
        for item in items:
            props = item.get("properties", {})
            if str(props.get("alsa.card")) == str(card.index) and not str(item.get("name", "")).endswith(".monitor"):
                return str(item.get("name"))
        return None

    return pick(listing("sinks")), pick(listing("sources"))


def _pactl(*args: str) -> str | None:
    if shutil.which("pactl") is None:
        return None
    try:
        out = subprocess.run(["pactl", "-f", "json", *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def route_through_server(card: SoundCard, devices: list[dict[str, Any]], env: dict[str, str]) -> int | None:
    """Point the ALSA ``pulse`` PCM at the card's server nodes (sets PULSE_SINK/SOURCE in ``env``); its index."""
    idx = next((i for i, d in enumerate(devices) if str(d["name"]) == "pulse"), None)
    if idx is None:
        return None
    sink, source = server_nodes(card)
    if sink:
        env["PULSE_SINK"] = sink
    if source:
        env["PULSE_SOURCE"] = source
    return idx

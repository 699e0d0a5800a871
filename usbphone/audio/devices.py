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
import logging
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Preferred device rates, best first: 16 kHz is the bridge's own rate (no resampling), 48 kHz is what most
# headsets' UAC interfaces offer; 8 kHz-only devices (source: ../shared/protocols/usb-phone-protocols.md §2:
# Yealink P1K "8 kHz, 16-bit mono in practice") just get 8 kHz.
PREFERRED_RATES = (16000, 48000, 32000, 44100, 24000, 8000)

log = logging.getLogger("usbphone.audio")


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

# Where libpulse looks for a server when PULSE_SERVER is unset, after the per-user socket (source: PulseAudio
# src/pulse/context.c, prepend_per_user + "unix:" PA_SYSTEM_RUNTIME_PATH; pipewire-pulse listens there too).
SYSTEM_SOCKET = "/run/pulse/native"


def sound_server(env: dict[str, str] | None = None) -> str | None:
    """"pulse" when a PulseAudio-protocol server (PulseAudio or pipewire-pulse) answers, else None.

    Looks where libpulse looks: PULSE_SERVER (a list of addresses: ``unix:/path``, ``/path``, ``tcp:host``,
    ``host``, each optionally prefixed ``{machine-id}``; source: pulse-client.conf(5)), else the per-user socket
    ``$PULSE_RUNTIME_PATH/native`` or ``$XDG_RUNTIME_DIR/pulse/native``, else the system-wide one. A unix socket
    counts only if a server accepts a connection on it: a server that crashed or was killed leaves the socket
    file behind. Network addresses are taken on trust (not probed).
    """
    env = dict(os.environ) if env is None else env
    server = env.get("PULSE_SERVER", "").strip()
    if server:
        for address in server.split():
            address = re.sub(r"^\{[^}]*\}", "", address)
            path = address.removeprefix("unix:")
            if path.startswith("/"):
                if _listening(path):
                    return "pulse"
            elif address:
                return "pulse"
        return None
    if env.get("PULSE_RUNTIME_PATH"):
        per_user = os.path.join(env["PULSE_RUNTIME_PATH"], "native")
    else:
        per_user = os.path.join(env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}", "pulse", "native")
    return "pulse" if _listening(per_user) or _listening(SYSTEM_SOCKET) else None


def _listening(path: str) -> bool:
    """A server accepts connections on the unix socket ``path`` (connect, then hang up; no protocol spoken)."""
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def server_nodes(card: SoundCard, pactl_json: str | None = None,
                 env: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """(sink name, source name) the sound server created for ALSA card N (property ``alsa.card``)."""
    def listing(kind: str) -> list[dict[str, Any]]:
        text = pactl_json if pactl_json is not None else _pactl("list", kind, env=env)
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


def _pactl(*args: str, env: dict[str, str] | None = None) -> str | None:
    """``pactl -f json ARGS`` against the server ``env`` names (JSON output: PulseAudio >= 16, pipewire-pulse)."""
    if shutil.which("pactl") is None:
        return None
    try:
        out = subprocess.run(["pactl", "-f", "json", *args], capture_output=True, text=True, timeout=5,
                             env=None if env is None else dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


_announced: set[tuple[str, int, str | None, str | None]] = set()


def route_through_server(card: SoundCard, devices: list[dict[str, Any]], env: dict[str, str]) -> int | None:
    """The ALSA ``pulse`` PCM's index, pointed at the server's nodes for ``card`` (PULSE_SINK/PULSE_SOURCE set
    in ``env``, which libpulse reads at each open); None when no server answers, PortAudio lists no ``pulse``
    PCM, or the server has no node for the card (then it does not hold the card, and its default nodes would
    be the desktop's speakers, not the handset). Logs the route once per server, card and nodes.
    """
    if sound_server(env) is None:
        return None
    idx = next((i for i, d in enumerate(devices) if str(d["name"]) == "pulse"
                and d["max_input_channels"] > 0 and d["max_output_channels"] > 0), None)
    if idx is None:
        return None
    sink, source = server_nodes(card, env=env)
    if sink is None and source is None:
        return None
    for key, node in (("PULSE_SINK", sink), ("PULSE_SOURCE", source)):
        if node:
            env[key] = node
        else:
            env.pop(key, None)  # not another card's node from an earlier route
    said = (env.get("PULSE_SERVER") or env.get("PULSE_RUNTIME_PATH") or env.get("XDG_RUNTIME_DIR") or "",
            card.index, sink, source)
    if said not in _announced:
        _announced.add(said)
        log.info("audio: sound card %s (%s) is held by the sound server; going through it (sink %s, source %s)",
                 card.hw, card.id, sink or "default", source or "default")
    return idx

"""Shared bits of the SIP subcommands (`call`, `register`, and `run` may use them): options, core set-up.

Not a command itself (no HELP): cli.py only loads the modules it lists. Edit when the SIP options that
several commands share change.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from usbphone.config import DEFAULT_BIND, Config
from usbphone.errors import UserError
from usbphone.events import CallEvent


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE",
                   help="config file (default: $USBPHONE_CONFIG, ~/.config/usbphone/config.toml, "
                        "/etc/usbphone/config.toml, else built-in defaults)")
    p.add_argument("--bind", default=None, metavar="HOST[:PORT]",
                   help="SIP/RTP address (port 0 = any free port; default: all interfaces on 5060, a free "
                        "port when 5060 is taken)")


def default_bind(config: Config, target: str = "") -> str | None:
    """None (use [sip] bind) unless the target is a loopback address: then bind loopback, port 5060 or free.

    A call to a peer on this host must carry a loopback address in its Contact and SDP, or the peer would
    send its media to the host's LAN address.
    """
    if config.sip.bind != DEFAULT_BIND or not target:
        return None
    from usbphone.sip.inbound import host_of, resolve_hosts

    host = host_of(target)
    if "@" not in target and ":" not in target and "." not in host and host != "localhost":
        return None  # a number or a user name: dialled in the account's domain
    try:
        ips = [ipaddress.ip_address(host)]
    except ValueError:  # a name such as localhost: what does it resolve to?
        ips = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve_hosts([host])]
    return "127.0.0.1" if ips and all(ip.is_loopback and ip.version == 4 for ip in ips) else None


def audio_hook(device: str, config: Config) -> Any:
    """The audio helper's AudioBridge for ``device`` (usbphone/sip/audio.py), with a clear error if absent."""
    try:
        from usbphone.sip import audio
    except ImportError as exc:
        raise UserError(f"--audio-device needs the audio bridge (usbphone.sip.audio), which is not available: "
                        f"{exc}") from None
    bridge = getattr(audio, "AudioBridge", None)
    if bridge is None:
        raise UserError("--audio-device: usbphone.sip.audio has no AudioBridge in this build")
    try:
        return bridge(device, config=config)
    except ValueError as exc:  # the bridge validates its own [audio] keys
        raise UserError(f"audio: {exc}") from None


def print_event(ev: CallEvent) -> None:
    """One human line per call event (stdout)."""
    parts = [ev.kind]
    if ev.value:
        parts.append(ev.value)
    if ev.remote_number or ev.remote_name:
        who = f'"{ev.remote_name}" ' if ev.remote_name else ""
        parts.append(f"{who}{ev.remote_number}")
    if ev.code:
        parts.append(f"{ev.code} {ev.reason}".strip())
    print(" ".join(parts), flush=True)


@contextmanager
def open_core(config: Config, emit: Callable[[CallEvent], None], bind: str | None,
              hook: Any = None) -> Iterator[Any]:
    """A started CallCore that is shut down (calls hung up, unregistered, library destroyed) on leaving.

    CallCore.shutdown() releases every pjsua2 object before libDestroy, so the interpreter exits normally
    (no os._exit needed; tests/sip/test_sip_cli.py checks the exit codes).
    """
    from usbphone.sip.core import CallCore

    core = CallCore(config, emit, bind=bind, audio=hook)
    core.start()
    if core.notice:
        print(f"note: {core.notice}", file=sys.stderr, flush=True)
    try:
        yield core
    finally:
        core.shutdown()

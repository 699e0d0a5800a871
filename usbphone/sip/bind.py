"""`--bind HOST[:PORT]`: parsing and choosing the SIP port (pure Python, no pjsua2).

Rules (issue 4): port 0 = any free port; an explicit busy port is an error; the default (all interfaces,
5060) falls back to a free port with a message saying so. Edit when bind semantics change.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from usbphone.errors import UserError

DEFAULT_PORT = 5060


class BindError(UserError):
    """A bind address that cannot be parsed or used."""


@dataclass(frozen=True)
class BindAddress:
    host: str
    port: int
    explicit_port: bool

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind(text: str) -> BindAddress:
    """``"127.0.0.1"``, ``"127.0.0.1:0"``, ``"[::1]:5070"``, ``":5070"`` (all interfaces)."""
    text = text.strip()
    port_text = ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise BindError(f"bad bind address {text!r} (use HOST[:PORT] or [IPv6]:PORT)")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    host = host or "0.0.0.0"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise BindError(f"bad bind address {text!r}: {host!r} is not an IP address") from None
    if ip.version == 6:
        # pjsua 2.15 asserts (aborts the process) on IPv6 media with a bound transport: not supported yet
        raise BindError(f"bad bind address {text!r}: IPv6 is not supported yet; bind an IPv4 address")
    if port_text and not port_text.isdigit():
        raise BindError(f"bad bind address {text!r}: port {port_text!r} is not a number")
    port = int(port_text) if port_text else DEFAULT_PORT
    if port > 65535:
        raise BindError(f"bad bind address {text!r}: port {port} is out of range 0..65535")
    return BindAddress(host, port, explicit_port=bool(port_text))


def port_is_free(host: str, port: int, family: int = socket.AF_INET) -> bool:
    """True when a UDP socket can bind host:port right now."""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def choose(bind: BindAddress, is_default: bool) -> tuple[BindAddress, str]:
    """The address to hand pjsua2, and a message for the user ('' when nothing to say).

    Port 0 stays 0 (pjsua picks; read it back afterwards). A busy default port falls back to 0.
    """
    if bind.port == 0 or port_is_free(bind.host, bind.port, bind.family):
        return bind, ""
    if is_default or not bind.explicit_port:
        msg = f"SIP port {bind.port} on {bind.host} is in use; using a free port instead (see --bind)"
        return BindAddress(bind.host, 0, explicit_port=False), msg
    raise BindError(f"cannot bind {bind}: address already in use (pick another port, or port 0 for any)")

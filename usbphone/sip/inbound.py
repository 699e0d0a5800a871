"""Inbound call safety: who may make this phone ring (pure Python, no pjsua2).

Registered: only the registrar/outbound proxy hosts of our accounts (SIP scanners make phones ring).
No registrar: only the configured networks ("loopback", "local" = subnets of this host's interfaces, CIDRs).
Edit when the policy changes; the call core asks ``InboundPolicy.allows(source_ip)``.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# Linux ioctl numbers; source: linux/sockios.h
_SIOCGIFADDR, _SIOCGIFNETMASK = 0x8915, 0x891B


def _ipv4_ioctl(sock: socket.socket, name: str, request: int) -> str | None:
    try:
        out = fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None
    return socket.inet_ntoa(out[20:24])


def local_networks() -> list[Network]:
    """The subnets of this host's interfaces (IPv4 via ioctl, IPv6 from /proc/net/if_inet6)."""
    nets: list[Network] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            addr = _ipv4_ioctl(s, name, _SIOCGIFADDR)
            mask = _ipv4_ioctl(s, name, _SIOCGIFNETMASK)
            if addr and mask:
                nets.append(ipaddress.ip_network(f"{addr}/{mask}", strict=False))
    inet6 = Path("/proc/net/if_inet6")
    if inet6.exists():
        for line in inet6.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                addr = ":".join(fields[0][i:i + 4] for i in range(0, 32, 4))
                nets.append(ipaddress.ip_network(f"{addr}/{int(fields[2], 16)}", strict=False))
    return nets


def resolve_hosts(uris: Iterable[str]) -> set[str]:
    """IP addresses of the hosts in SIP URIs (``sip:pbx.example.org:5060;transport=tcp`` -> its A/AAAA)."""
    ips: set[str] = set()
    for uri in uris:
        host = host_of(uri)
        if not host:
            continue
        try:
            for info in socket.getaddrinfo(host, None):
                ips.add(str(info[4][0]))
        except OSError:
            continue
    return ips


def host_of(uri: str) -> str:
    """The host part of a SIP URI or host[:port]."""
    rest = uri.split(":", 1)[1] if uri.startswith(("sip:", "sips:")) else uri
    rest = rest.split(";", 1)[0].split(">", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.split(":", 1)[0]


class InboundPolicy:
    """Decides whether an INVITE from ``source_ip`` may ring the phone."""

    def __init__(self, trusted_hosts: set[str], networks: tuple[str, ...]) -> None:
        self.trusted_hosts = trusted_hosts
        self.networks: list[Network] = []
        for word in networks:
            if word == "loopback":
                self.networks.extend(LOOPBACK)
            elif word == "local":
                self.networks.extend(local_networks())
            else:
                self.networks.append(ipaddress.ip_network(word, strict=False))

    @classmethod
    def build(cls, registrar_uris: list[str], networks: tuple[str, ...]) -> InboundPolicy:
        """Registrar mode when any URI is given (only those hosts), else network mode."""
        if registrar_uris:
            return cls(resolve_hosts(registrar_uris), ())
        return cls(set(), networks)

    def allows(self, source_ip: str) -> bool:
        if source_ip in self.trusted_hosts:
            return True
        try:
            ip = ipaddress.ip_address(source_ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)


def source_ip(src_address: str) -> str:
    """``"127.0.0.1:5080"`` / ``"[::1]:5080"`` (pjsua2 SipRxData.srcAddress) -> the IP."""
    if src_address.startswith("["):
        return src_address[1:].split("]", 1)[0]
    return src_address.rsplit(":", 1)[0] if src_address.count(":") == 1 else src_address

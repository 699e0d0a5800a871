"""SIP URIs: what the user dialled -> a request URI; a remote URI -> caller ID (pure Python, no pjsua2).

Digits (0-9 * # +) and, when a domain is known, bare user names (no dot) become ``sip:X@DOMAIN`` with
the account's domain (or [dialplan] domain); ``user@host`` and hosts get ``sip:``; ``sip:``/``sips:``
URIs pass through. Edit for new dial rules.
"""

from __future__ import annotations

import re

from usbphone.errors import UserError

_DIGITS = re.compile(r"^\+?[0-9*#]+$")
_HOSTLIKE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d+)?$")
_USER = re.compile(r"^[A-Za-z0-9_+-]+$")
_NAME_ADDR = re.compile(r'^\s*(?:"(?P<q>(?:[^"\\]|\\.)*)"|(?P<t>[^<"]*?))\s*<(?P<uri>[^>]*)>')


class DialError(UserError):
    """Something that cannot be turned into a SIP URI."""


def to_uri(target: str, domain: str = "", transport: str = "udp") -> str:
    """Turn a number, user@host, host[:port] or SIP URI into a request URI."""
    t = target.strip()
    if not t or any(c.isspace() for c in t):
        raise DialError(f"cannot dial {target!r}: give a number, user@host or a sip: URI")
    if t.startswith(("sip:", "sips:")):
        return t
    suffix = f";transport={transport}" if transport in ("tcp", "tls") else ""
    if "@" in t:
        return f"sip:{t}{suffix}"
    if _DIGITS.match(t) or (domain and _USER.match(t)):
        if not domain:
            raise DialError(f"cannot dial {t}: no domain to dial numbers in (set 'domain' in an [[account]] "
                            "or [dialplan], or dial user@host / a sip: URI)")
        return f"sip:{t.replace('#', '%23')}@{domain}{suffix}"
    if _HOSTLIKE.match(t):
        return f"sip:{t}{suffix}"
    raise DialError(f"cannot dial {target!r}: give a number, user@host or a sip: URI")


def caller_id(remote: str) -> tuple[str, str]:
    """``'"Alice" <sip:+4930123@pbx>;tag=x'`` -> ``("+4930123", "Alice")`` (number, display name)."""
    name, uri = "", remote.strip()
    m = _NAME_ADDR.match(remote)
    if m:
        name = (m.group("q") if m.group("q") is not None else m.group("t") or "").strip()
        name = name.replace('\\"', '"').replace("\\\\", "\\")
        uri = m.group("uri")
    uri = uri.split(";", 1)[0]
    if ":" in uri and uri.split(":", 1)[0] in ("sip", "sips", "tel"):
        uri = uri.split(":", 1)[1]
    user = uri.split("@", 1)[0] if "@" in uri else uri
    return user.replace("%23", "#"), name

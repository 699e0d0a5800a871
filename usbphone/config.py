"""The usbphone configuration file (TOML): loading, defaults and validation with one clear error per mistake.

Shared by every command (`run`, `call`, `register`, ...). Sections and what reads them:

    [sip]          bind address, DTMF method, codec priorities, auto-answer, inbound networks (usbphone/sip/)
    [[account]]    SIP accounts/lines: user, domain, registrar, credentials, proxy, transport, SRTP (usbphone/sip/)
    [dialplan]     domain for bare numbers, inter-digit timeout, send key, digit maps (Phone + sip URI building)
    [audio]        device name (+ keys the audio bridge validates itself, kept in ``audio.extra``)
    [presence]     publish own state, buddies to watch
    [phone] [log] [device]   free-form tables for the appliance; validated by their owners (``Config.extra``)

No file at all is a valid configuration: no accounts = no-registrar mode (direct IP calls on the LAN).
A password comes from ``password``, ``password_file`` or ``password_credential`` (a systemd credential:
LoadCredential= puts it in $CREDENTIALS_DIRECTORY). Passwords are never printed: ``repr()`` hides them
and errors never quote them.
Edit this module when a section or key is added; keep defaults here, not in the modules that read them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usbphone.errors import UserError

DEFAULT_BIND = "0.0.0.0:5060"
DTMF_METHODS = ("rfc4733", "info", "inband")
TRANSPORTS = ("udp", "tcp", "tls")
SRTP_MODES = ("off", "optional", "mandatory")
KNOWN_CODECS = ("PCMU", "PCMA", "G722", "GSM", "iLBC", "speex")
DEFAULT_CODECS = ("PCMU", "PCMA", "G722", "GSM", "iLBC")
NETWORK_WORDS = ("loopback", "local")
PRESENCE_STATES = ("available", "busy", "dnd", "away", "offline")
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian/Ubuntu; the wheel's OpenSSL looks in /etc/pki
FREE_FORM_SECTIONS = ("phone", "log", "device")

log = logging.getLogger(__name__)


class ConfigError(UserError):
    """A mistake in the configuration file (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class AccountConfig:
    """One SIP account (a "line"). No ``registrar`` = no registration (direct calls)."""

    name: str = "default"
    user: str = "usbphone"
    domain: str = ""
    registrar: str = ""
    auth_user: str = ""
    password: str = field(default="", repr=False)
    realm: str = "*"
    display_name: str = ""
    outbound_proxy: str = ""
    transport: str = "udp"
    srtp: str = "off"
    register_expires: int = 300
    retry_interval: int = 60
    retry_jitter: int = 15
    keepalive: int = 15

    @property
    def registers(self) -> bool:
        return bool(self.registrar)

    @property
    def sip_domain(self) -> str:
        """The domain bare numbers are dialled in: ``domain``, else the registrar's host."""
        if self.domain:
            return self.domain
        if self.registrar:
            return self.registrar.split(":", 1)[1] if self.registrar.startswith("sip") else self.registrar
        return ""


@dataclass(frozen=True)
class SipConfig:
    bind: str = DEFAULT_BIND
    dtmf: str = "rfc4733"
    codecs: tuple[str, ...] = DEFAULT_CODECS
    auto_answer: bool = False
    inbound_networks: tuple[str, ...] = NETWORK_WORDS
    max_calls: int = 4
    user_agent: str = "usbphone"
    stun_servers: tuple[str, ...] = ()
    ice: bool = False
    tls_ca_file: str = SYSTEM_CA_BUNDLE
    tls_verify: bool = True
    tls_cert_file: str = ""  # our own certificate, for TLS connections others open to us
    tls_key_file: str = ""
    log_level: int = 0


@dataclass(frozen=True)
class DialplanConfig:
    domain: str = ""
    interdigit_timeout: float = 4.0
    send_key: str = "#"
    digit_maps: tuple[str, ...] = ()


@dataclass(frozen=True)
class AudioConfig:
    device: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PresenceConfig:
    publish: bool = False
    buddies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    sip: SipConfig = field(default_factory=SipConfig)
    accounts: tuple[AccountConfig, ...] = ()
    dialplan: DialplanConfig = field(default_factory=DialplanConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str = ""

    @property
    def registrar_mode(self) -> bool:
        return any(a.registers for a in self.accounts)


# --- loading ----------------------------------------------------------------------------------------


def default_paths() -> list[Path]:
    """Where `--config` is looked for when not given: $USBPHONE_CONFIG, the user's, the system's."""
    paths = []
    if os.environ.get("USBPHONE_CONFIG"):
        paths.append(Path(os.environ["USBPHONE_CONFIG"]))
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths += [config_home / "usbphone" / "config.toml", Path("/etc/usbphone/config.toml")]
    return paths


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file; ``None`` = the first default path that exists, else defaults."""
    if path is None:
        found = next((p for p in default_paths() if _readable_candidate(p)), None)
        if found is None:
            return Config()
        path = found
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(data, str(p))


def _readable_candidate(path: Path) -> bool:
    """Is this default path a file? A path inside a directory we may not enter (e.g. HOME=/root seen by the
    service user) is skipped with a warning instead of a traceback (as profiles/loader.py does)."""
    try:
        return path.is_file()
    except OSError as exc:
        log.warning("skipping config path %s: %s", path, exc.strerror or exc)
        return False


def parse_config(data: dict[str, Any], where: str = "config") -> Config:
    """Validate parsed TOML; raises ConfigError naming the file, section and key."""
    known = {"sip", "account", "dialplan", "audio", "presence", *FREE_FORM_SECTIONS}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown section [{key}] (known: {', '.join(sorted(known))})")
    extra = {}
    for name in FREE_FORM_SECTIONS:
        extra[name] = _table(data, name, where)
    accounts_raw = data.get("account", [])
    if isinstance(accounts_raw, dict):
        accounts_raw = [accounts_raw]
    if not isinstance(accounts_raw, list) or not all(isinstance(a, dict) for a in accounts_raw):
        raise ConfigError(f"{where}: [[account]] must be a list of tables")
    accounts = tuple(_account(a, i, where, Path(where).parent) for i, a in enumerate(accounts_raw))
    names = [a.name for a in accounts]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{where}: two accounts are named {sorted(dup)[0]!r}; give each a unique name")
    return Config(
        sip=_sip(_table(data, "sip", where), where),
        accounts=accounts,
        dialplan=_dialplan(_table(data, "dialplan", where), where),
        audio=_audio(_table(data, "audio", where), where),
        presence=_presence(_table(data, "presence", where), where),
        extra=extra,
        path=where,
    )


# --- sections -----------------------------------------------------------------------------------------


class _Reader:
    """Typed access to one table that remembers which keys were used, so leftovers are reported."""

    def __init__(self, table: dict[str, Any], section: str, where: str) -> None:
        self.table, self.section, self.where, self.used = table, section, where, set()

    def fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.where}: [{self.section}] {key}: {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def number(self, key: str, default: float, low: float, high: float, kind: type = int) -> Any:
        value = self.get(key, kind, default)
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range {low}..{high}")
        return value

    def done(self, allow_extra: bool = False) -> dict[str, Any]:
        rest = {k: v for k, v in self.table.items() if k not in self.used}
        if rest and not allow_extra:
            key = sorted(rest)[0]
            raise self.fail(key, f"unknown key (known: {', '.join(sorted(self.used))})")
        return rest


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def _sip(t: dict[str, Any], where: str) -> SipConfig:
    r = _Reader(t, "sip", where)
    bind = r.get("bind", str, DEFAULT_BIND)
    from usbphone.sip.bind import BindError, parse_bind

    try:
        parse_bind(bind)
    except BindError as exc:
        raise r.fail("bind", str(exc)) from None
    codecs = r.strings("codecs", DEFAULT_CODECS)
    for c in codecs:
        if c not in KNOWN_CODECS:
            raise r.fail("codecs", f"unknown codec {c!r} (known: {', '.join(KNOWN_CODECS)})")
    if not codecs:
        raise r.fail("codecs", "list at least one codec")
    nets = r.strings("inbound_networks", NETWORK_WORDS)
    for n in nets:
        if n not in NETWORK_WORDS:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise r.fail("inbound_networks", f"{n!r} is not a network (CIDR) nor one of "
                                                 f"{', '.join(NETWORK_WORDS)}") from None
    cfg = SipConfig(
        bind=bind,
        dtmf=r.choice("dtmf", DTMF_METHODS, "rfc4733"),
        codecs=codecs,
        auto_answer=r.get("auto_answer", bool, False),
        inbound_networks=nets,
        max_calls=r.number("max_calls", 4, 1, 32),
        user_agent=r.get("user_agent", str, "usbphone"),
        stun_servers=r.strings("stun_servers", ()),
        ice=r.get("ice", bool, False),
        tls_ca_file=r.get("tls_ca_file", str, SYSTEM_CA_BUNDLE),
        tls_verify=r.get("tls_verify", bool, True),
        tls_cert_file=r.get("tls_cert_file", str, ""),
        tls_key_file=r.get("tls_key_file", str, ""),
        log_level=r.number("log_level", 0, 0, 6),
    )
    r.done()
    return cfg


def _uri_ok(value: str) -> bool:
    return value.startswith(("sip:", "sips:")) and len(value.split(":", 1)[1]) > 0 and " " not in value


def _account(t: dict[str, Any], index: int, where: str, base: Path) -> AccountConfig:
    r = _Reader(t, f"account {index + 1}", where)
    name = r.get("name", str, f"account{index + 1}")
    r.section = f"account {name!r}"
    user = r.get("user", str, "")
    if not user:
        raise r.fail("user", "missing (the SIP user name, e.g. user = \"alice\")")
    for key in ("registrar", "outbound_proxy"):
        value = r.get(key, str, "")
        if value and not _uri_ok(value):
            raise r.fail(key, f"{value!r} is not a SIP URI (e.g. \"sip:pbx.example.org\")")
    password = r.get("password", str, "")
    pw_file = r.get("password_file", str, "")
    credential = r.get("password_credential", str, "")
    given = [k for k, v in (("password", password), ("password_file", pw_file),
                            ("password_credential", credential)) if v]
    if len(given) > 1:
        raise r.fail(given[1], "give only one of password, password_file, password_credential "
                               f"(this account sets {', '.join(given)})")
    if pw_file:
        path = Path(pw_file) if Path(pw_file).is_absolute() else base / pw_file
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise r.fail("password_file", f"cannot read {path}: {exc.strerror}") from None
    if credential:
        password = _read_credential(credential, r)
    cfg = AccountConfig(
        name=name,
        user=user,
        domain=r.get("domain", str, ""),
        registrar=t.get("registrar", ""),
        auth_user=r.get("auth_user", str, ""),
        password=password,
        realm=r.get("realm", str, "*"),
        display_name=r.get("display_name", str, ""),
        outbound_proxy=t.get("outbound_proxy", ""),
        transport=r.choice("transport", TRANSPORTS, "udp"),
        srtp=r.choice("srtp", SRTP_MODES, "off"),
        register_expires=r.number("register_expires", 300, 30, 86400),
        retry_interval=r.number("retry_interval", 60, 1, 3600),
        retry_jitter=r.number("retry_jitter", 15, 0, 600),
        keepalive=r.number("keepalive", 15, 0, 3600),
    )
    if 0 < cfg.keepalive < 5:
        # pjsua 2.15 fires its UDP keep-alive timer one second early: 1 s became a 100 000 packets/s storm
        # (measured, tests/sip/test_sip_registrar.py); no phone needs keep-alives that often anyway.
        raise r.fail("keepalive", f"{cfg.keepalive} is too short (0 = off, or 5..3600 seconds)")
    r.done()
    return cfg


def _read_credential(name: str, r: _Reader) -> str:
    """The password systemd passed as credential ``name`` (LoadCredential=NAME:FILE in the unit puts the file
    in $CREDENTIALS_DIRECTORY, readable by the service user only). The value is never quoted in errors."""
    key = "password_credential"
    if name in (".", "..") or "/" in name:
        raise r.fail(key, f"{name!r} is not a credential name (the NAME of LoadCredential=NAME:FILE, "
                          "e.g. \"sip-password\")")
    directory = os.environ.get("CREDENTIALS_DIRECTORY", "")
    if not directory:
        raise r.fail(key, f"$CREDENTIALS_DIRECTORY is not set, so the credential {name!r} cannot be read: it "
                          f"exists only inside a systemd service with LoadCredential={name}:FILE (systemd puts it "
                          "under /run/credentials/UNIT/); outside the service use password_file")
    path = Path(directory) / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise r.fail(key, f"no credential {name!r} in $CREDENTIALS_DIRECTORY ({directory}): the unit needs "
                          f"LoadCredential={name}:FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise r.fail(key, f"cannot read credential {name!r} ({path}): {reason}") from None


def _dialplan(t: dict[str, Any], where: str) -> DialplanConfig:
    r = _Reader(t, "dialplan", where)
    send_key = r.get("send_key", str, "#")
    if send_key not in ("", "#", "*"):
        raise r.fail("send_key", f"{send_key!r} must be \"#\", \"*\" or \"\" (none)")
    cfg = DialplanConfig(
        domain=r.get("domain", str, ""),
        interdigit_timeout=r.number("interdigit_timeout", 4.0, 0.5, 60.0, float),
        send_key=send_key,
        digit_maps=r.strings("digit_maps", ()),
    )
    r.done()
    return cfg


def _audio(t: dict[str, Any], where: str) -> AudioConfig:
    r = _Reader(t, "audio", where)
    device = r.get("device", str, "")
    return AudioConfig(device=device, extra=r.done(allow_extra=True))


def _presence(t: dict[str, Any], where: str) -> PresenceConfig:
    r = _Reader(t, "presence", where)
    buddies = r.strings("buddies", ())
    for b in buddies:
        if not _uri_ok(b):
            raise r.fail("buddies", f"{b!r} is not a SIP URI")
    cfg = PresenceConfig(publish=r.get("publish", bool, False), buddies=buddies)
    r.done()
    return cfg

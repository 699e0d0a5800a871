"""Config validation, --bind parsing, dial-plan URIs, caller ID, inbound policy (pure Python, no peers)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from usbphone.config import ConfigError, load_config, parse_config
from usbphone.sip.bind import BindAddress, BindError, choose, parse_bind
from usbphone.sip.inbound import InboundPolicy, host_of, source_ip
from usbphone.sip.uri import DialError, caller_id, to_uri

FULL = """
[sip]
bind = "127.0.0.1:0"
dtmf = "info"
codecs = ["G722", "PCMU"]
auto_answer = true
inbound_networks = ["loopback", "10.1.0.0/16"]

[[account]]
name = "work"
user = "alice"
domain = "example.org"
registrar = "sip:pbx.example.org"
password = "hunter2"
outbound_proxy = "sip:proxy.example.org:5061"
transport = "tcp"
srtp = "optional"

[dialplan]
domain = "lan.example"
interdigit_timeout = 3
send_key = "#"

[audio]
device = "Yealink"
latency_ms = 40

[presence]
publish = true
buddies = ["sip:bob@example.org"]

[phone]
anything = "the phone validates this"
"""


def parse(text: str):
    return parse_config(tomllib.loads(text), "test.toml")


def test_full_config_parses():
    c = parse(FULL)
    assert c.sip.codecs == ("G722", "PCMU") and c.sip.dtmf == "info" and c.sip.auto_answer
    acc = c.accounts[0]
    assert (acc.name, acc.user, acc.transport, acc.srtp, acc.sip_domain) == ("work", "alice", "tcp", "optional",
                                                                             "example.org")
    assert c.registrar_mode and c.dialplan.interdigit_timeout == 3.0
    assert c.audio.device == "Yealink" and c.audio.extra == {"latency_ms": 40}
    assert c.presence.buddies == ("sip:bob@example.org",) and c.extra["phone"]["anything"]


def test_password_never_in_repr():
    c = parse(FULL)
    assert "hunter2" not in repr(c) and "hunter2" not in str(c.accounts)


def test_password_file(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "c.toml").write_text('[[account]]\nuser = "a"\nregistrar = "sip:x"\npassword_file = "pw"\n')
    assert load_config(tmp_path / "c.toml").accounts[0].password == "s3cret"


CRED_ACCOUNT = '[[account]]\nname = "office"\nuser = "a"\nregistrar = "sip:x"\npassword_credential = "sip-password"\n'


def test_password_credential_reads_the_systemd_credential(tmp_path, monkeypatch, caplog):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "sip-password").write_text("s3cret-cred\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    caplog.set_level("DEBUG")
    c = parse(CRED_ACCOUNT)
    assert c.accounts[0].password == "s3cret-cred"
    assert "s3cret-cred" not in repr(c) and "s3cret-cred" not in caplog.text


def test_password_credential_errors_are_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ConfigError) as e:
        parse(CRED_ACCOUNT)
    msg = str(e.value)
    assert msg.startswith("test.toml: [account 'office'] password_credential: $CREDENTIALS_DIRECTORY is not set")
    # doctor (usbphone/commands/doctor.py) turns errors naming /run/credentials/ into "only inside the service"
    assert "LoadCredential=sip-password:FILE" in msg and "/run/credentials/" in msg
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(ConfigError, match=r"no credential 'sip-password' in \$CREDENTIALS_DIRECTORY \("):
        parse(CRED_ACCOUNT)
    (tmp_path / "sip-password").mkdir()
    with pytest.raises(ConfigError, match="cannot read credential 'sip-password'"):
        parse(CRED_ACCOUNT)
    with pytest.raises(ConfigError, match="'../etc/shadow' is not a credential name"):
        parse(CRED_ACCOUNT.replace('"sip-password"', '"../etc/shadow"'))
    with pytest.raises(ConfigError) as e:
        parse(CRED_ACCOUNT + 'password = "hunter2"\n')
    assert "give only one of password, password_file, password_credential" in str(e.value)
    assert "hunter2" not in str(e.value)


def _can_drop_to_nobody() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.mark.skipif(not _can_drop_to_nobody(), reason="needs root and setpriv to run as an unprivileged uid")
def test_default_config_path_in_an_unreadable_directory_is_skipped(tmp_path):
    """The service user (uid 65534) with HOME=/root: ~/.config/usbphone/config.toml cannot even be looked at."""
    home = Path(tempfile.mkdtemp(prefix="usbphone-home-", dir="/tmp"))  # root-owned, mode 0700
    try:
        (home / ".config/usbphone").mkdir(parents=True)
        (home / ".config/usbphone/config.toml").write_text('[sip]\ndtmf = "info"\n')
        os.chmod(home, 0o700)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
        code = "from usbphone.config import load_config; print('dtmf', load_config().sip.dtmf)"
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            code], capture_output=True, text=True, env=env, timeout=60, cwd="/")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"skipping config path {home}/.config/usbphone/config.toml: Permission denied" in r.stderr
    assert r.stdout.strip() in ("dtmf rfc4733", "dtmf info")  # defaults, or /etc/usbphone's if this host has one


@pytest.mark.parametrize("text,message", [
    ("[sipp]\n", "unknown section [sipp]"),
    ('[sip]\nbnd = "x"\n', "[sip] bnd: unknown key"),
    ('[sip]\ndtmf = "loud"\n', "[sip] dtmf: 'loud' is not one of rfc4733, info, inband"),
    ('[sip]\ncodecs = ["opus"]\n', "unknown codec 'opus'"),
    ('[sip]\nbind = "nowhere:5060"\n', "is not an IP address"),
    ('[sip]\ninbound_networks = ["lan"]\n', "'lan' is not a network"),
    ('[sip]\nmax_calls = 0\n', "out of range"),
    ('[[account]]\nname = "x"\n', "[account 'x'] user: missing"),
    ('[[account]]\nuser = "a"\nregistrar = "pbx.example.org"\n', "is not a SIP URI"),
    ('[[account]]\nuser = "a"\n[[account]]\nuser = "b"\nname = "account1"\n', "two accounts are named"),
    ('[[account]]\nuser = "a"\ntransport = "sctp"\n', "'sctp' is not one of udp, tcp, tls"),
    ('[sip]\nauto_answer = "yes"\n', "expected bool, got str"),
    ('[dialplan]\nsend_key = "5"\n', "send_key"),
    ("[[account]]\nuser = \"a\"\nkeepalive = 1\n", "keepalive: 1 is too short"),
])
def test_config_errors_name_section_and_key(text, message):
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert message in str(e.value) and str(e.value).startswith("test.toml:")


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "b.toml").write_text("[sip\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "b.toml")


def test_no_file_means_no_registrar_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("USBPHONE_CONFIG", raising=False)
    import usbphone.config as cfg

    monkeypatch.setattr(cfg, "default_paths", lambda: [tmp_path / "none.toml"])
    c = load_config(None)
    assert c.accounts == () and not c.registrar_mode and c.sip.bind == "0.0.0.0:5060"


@pytest.mark.parametrize("text,host,port,explicit", [
    ("127.0.0.1:0", "127.0.0.1", 0, True),
    ("127.0.0.1", "127.0.0.1", 5060, False),
    (":5070", "0.0.0.0", 5070, True),
])
def test_parse_bind(text, host, port, explicit):
    b = parse_bind(text)
    assert (b.host, b.port, b.explicit_port) == (host, port, explicit)


@pytest.mark.parametrize("text", ["localhost:5060", "1.2.3.4:x", "1.2.3.4:70000", "[::1", "[::1]:5062", "::1"])
def test_bad_bind(text):
    with pytest.raises(BindError):
        parse_bind(text)


def test_busy_port_fallback_only_when_not_explicit():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        busy = s.getsockname()[1]
        chosen, msg = choose(BindAddress("127.0.0.1", busy, False), is_default=True)
        assert chosen.port == 0 and f"SIP port {busy} on 127.0.0.1 is in use" in msg
        with pytest.raises(BindError, match="already in use"):
            choose(BindAddress("127.0.0.1", busy, True), is_default=False)


@pytest.mark.parametrize("target,domain,uri", [
    ("sip:bob@x.org", "", "sip:bob@x.org"),
    ("bob@x.org", "", "sip:bob@x.org"),
    ("0301234#", "pbx.org", "sip:0301234%23@pbx.org"),
    ("+4930123", "pbx.org", "sip:+4930123@pbx.org"),
    ("bob", "pbx.org:5070", "sip:bob@pbx.org:5070"),
    ("192.168.1.5:5062", "", "sip:192.168.1.5:5062"),
])
def test_to_uri(target, domain, uri):
    assert to_uri(target, domain) == uri


def test_to_uri_errors():
    with pytest.raises(DialError, match="no domain"):
        to_uri("100", "")
    with pytest.raises(DialError):
        to_uri("two words")


@pytest.mark.parametrize("remote,number,name", [
    ('"Alice Smith" <sip:+4930123@pbx.org>;tag=x', "+4930123", "Alice Smith"),
    ("Bob <sip:bob@h>", "bob", "Bob"),
    ("<sip:100@127.0.0.1:5080>", "100", ""),
    ("sip:200@h;transport=tcp", "200", ""),
    ('"Q \\"uote\\"" <tel:555>', "555", 'Q "uote"'),
])
def test_caller_id(remote, number, name):
    assert caller_id(remote) == (number, name)


def test_inbound_policy():
    reg = InboundPolicy.build(["sip:127.0.0.1:5070"], ("loopback",))
    assert reg.allows("127.0.0.1") and not reg.allows("127.0.0.2")
    lan = InboundPolicy.build([], ("127.0.0.1/32", "10.0.0.0/8"))
    assert lan.allows("10.2.3.4") and lan.allows("127.0.0.1") and not lan.allows("127.0.0.9")
    assert not lan.allows("garbage")
    assert InboundPolicy.build([], ("loopback",)).allows("::1")
    assert host_of("sip:alice@[::1]:5060;transport=tcp") == "::1"
    assert source_ip("[::1]:5060") == "::1" and source_ip("127.0.0.1:5060") == "127.0.0.1"


def test_local_networks_include_this_hosts_subnets():
    from usbphone.sip.inbound import local_networks

    nets = [str(n) for n in local_networks()]
    assert "127.0.0.0/8" in nets


def test_installed_example_config_is_valid(tmp_path, monkeypatch):
    example = Path(__file__).resolve().parents[2] / "udev" / "config.toml.example"
    if not example.exists():
        pytest.skip("no udev/config.toml.example in this tree")
    c = load_config(example)
    assert c.sip.bind == "0.0.0.0:5060"
    # its account, filled in as the comments say, takes the password from the service's credential
    text = example.read_text()
    for key in ("[[account]]", "name", "user", "registrar", "domain", "password_credential"):
        text = text.replace(f"#{key}", key, 1)
    (tmp_path / "sip-password").write_text("from-the-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "c.toml").write_text(text)
    acc = load_config(tmp_path / "c.toml").accounts[0]
    assert (acc.name, acc.user, acc.password) == ("office", "alice", "from-the-credential")

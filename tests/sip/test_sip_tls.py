"""SIP over TLS against a second pjsua2 endpoint holding a test certificate: the server certificate is
verified by default against the system CA bundle (our test certificate is not in it: the call fails), and
trusted via [sip] tls_ca_file it connects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.peers


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def _peer_config(crt: Path, key: Path) -> str:
    # the peer's listener gets a small CA file: with the big system bundle it fails handshakes (pjconfig.py)
    return (f'[sip]\ntls_ca_file = "{crt}"\ntls_cert_file = "{crt}"\ntls_key_file = "{key}"\nauto_answer = true\n'
            '[[account]]\nname = "tls"\nuser = "peer"\ntransport = "tls"\n')


def test_tls_call_with_trusted_certificate(make_core, pjpeer, cert):
    crt, key = cert
    peer = pjpeer(_peer_config(crt, key))
    dut = make_core(f'[sip]\ntls_ca_file = "{crt}"\n[[account]]\nname = "tls"\nuser = "me"\ntransport = "tls"\n')
    cid = dut.run("dial", target=f"sip:peer@{peer.transports['tls']};transport=tls")
    dut.wait("connected", call_id=cid)
    assert dut.core.transport_addresses["tls"].startswith("127.0.0.1:")
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)


def test_untrusted_server_certificate_fails_the_call(make_core, pjpeer, cert):
    crt, key = cert
    peer = pjpeer(_peer_config(crt, key))
    dut = make_core('[[account]]\nname = "tls"\nuser = "me"\ntransport = "tls"\n')  # system CA bundle
    cid = dut.run("dial", target=f"sip:peer@{peer.transports['tls']};transport=tls")
    ended = dut.wait("ended", call_id=cid, timeout=15)
    assert ended.extra["connected"] is False and "certificate verification" in ended.reason, ended
    with pytest.raises(AssertionError):
        peer.event("incoming", timeout=0.5)


def test_missing_ca_file_is_a_config_error(make_core):
    from usbphone.config import ConfigError

    with pytest.raises(ConfigError, match="CA file /nonexistent.pem does not exist"):
        make_core('[sip]\ntls_ca_file = "/nonexistent.pem"\n[[account]]\nuser = "me"\ntransport = "tls"\n')

"""The [sip] stun_servers option against a real STUN server (coturn's turnserver, --stun-only, on loopback).

Proves pjsua2 really queried the configured server (tshark on lo sees STUN Binding Requests to its port
and the server's Binding Success Responses) and that a call to a SIPp UAS still connects with STUN on.
Edit when STUN/ICE configuration in usbphone/sip/pjconfig.py changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import Capture, Proc, free_port, require, udp_bound, wait_for

pytestmark = pytest.mark.peers

BINDING_REQUEST, BINDING_SUCCESS = "0x0001", "0x0101"  # source: RFC 5389 §6 / §18.1 (message types)


@pytest.fixture
def stun_server(tmp_path: Path) -> Iterator[int]:
    """A real STUN-only server on 127.0.0.1:<free port>; yields the port, stopped by PID at teardown."""
    require("turnserver")
    port = free_port()
    proc = Proc(["turnserver", "--stun-only", "--listening-ip", "127.0.0.1", "--listening-port", str(port),
                 "--no-tls", "--no-dtls", "--no-cli", "--log-file", "stdout", "--simple-log", "-n",
                 "--pidfile", str(tmp_path / "turnserver.pid"), "--userdb", str(tmp_path / "turndb")],
                tmp_path / "turnserver.log")
    try:
        wait_for(lambda: udp_bound(port) or proc.p.poll() is not None, 20, what="turnserver to listen")
        if proc.p.poll() is not None:
            pytest.fail(f"turnserver exited ({proc.p.returncode}); log:\n{proc.log()}")
        yield port
    finally:
        proc.stop()


def stun_messages(cap: Capture, port: int) -> list[tuple[str, str, str]]:
    """(message type, source port, destination port) of every STUN message to or from ``port``."""
    # pjsua's transport check uses pjlib-util's RFC 3489 client (no magic cookie), which tshark calls
    # "classicstun"; the server-resolution check is RFC 5389 "stun"
    rows = cap.fields(f"(stun || classicstun) && udp.port == {port}", "stun.type", "classicstun.type",
                      "udp.srcport", "udp.dstport", decode=[f"udp.port=={port},stun"])
    return [(r[0] or r[1], r[2], r[3]) for r in rows if len(r) == 4]


def test_call_with_stun_server_queries_it_and_connects(make_core, sipp_uas, capture, stun_server):
    uas = sipp_uas("uas_answer.xml")
    cap = capture(f"udp port {stun_server} or udp port {uas.port}")
    dut = make_core(f'[sip]\nstun_servers = ["127.0.0.1:{stun_server}"]\n')
    cid = dut.run("dial", target=uas.uri("100"))
    dut.wait("connected", call_id=cid, timeout=20)
    dut.run("hangup", call_id=cid)
    ended = dut.wait("ended", call_id=cid, timeout=20)
    assert (ended.code, ended.extra["connected"]) == (200, True)
    assert uas.wait() == 0, uas.log()
    cap.finish()
    msgs = stun_messages(cap, stun_server)
    requests = [m for m in msgs if m[0] == BINDING_REQUEST and m[2] == str(stun_server)]
    answers = [m for m in msgs if m[0] == BINDING_SUCCESS and m[1] == str(stun_server)]
    assert requests and answers, f"no STUN Binding Request/Success with 127.0.0.1:{stun_server}: {msgs}"
    # the RTP port our INVITE's SDP offered asked the STUN server for its mapped address (pjsua media STUN)
    offered = {r[0] for r in cap.fields(f"sip.Method == INVITE && udp.dstport == {uas.port}", "sdp.media.port",
                                        decode=[f"udp.port=={uas.port},sip"]) if r and r[0]}
    assert offered, "no SDP offer from us on the wire"
    assert offered & {m[1] for m in requests}, (offered, requests)
    assert offered & {m[2] for m in answers}, (offered, answers)
    # the SIP socket itself asked too (a named --bind must not stop STUN for Via/Contact)
    sip_port = dut.core.local_address.rsplit(":", 1)[1]
    assert sip_port in {m[1] for m in requests}, (sip_port, requests)

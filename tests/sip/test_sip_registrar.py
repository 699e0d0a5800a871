"""Registration and registered calls through a real Kamailio (digest auth), and the inbound-call gate."""

from __future__ import annotations

import pytest
from peers import wait_for

pytestmark = pytest.mark.peers

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}


def account(kam, user: str, password: str | None = None, transport: str = "udp") -> str:
    registrar = kam.uri + (";transport=tcp" if transport == "tcp" else "")
    return f"""[[account]]
name = "{user}"
user = "{user}"
display_name = "{user.title()}"
registrar = "{registrar}"
password = "{USERS[user] if password is None else password}"
transport = "{transport}"
"""


def test_register_ok(make_core, kamailio):
    kam = kamailio(USERS)
    dut = make_core(account(kam, "alice"))
    ev = dut.wait("registration")
    assert (ev.value, ev.code, ev.extra["account"]) == ("registered", 200, "alice")
    assert ev.extra["expires"] > 0
    wait_for(lambda: kam.count("REGISTER alice: saved") == 1, 5, what="kamailio to log the REGISTER")


def test_register_over_tcp(make_core, kamailio):
    kam = kamailio(USERS)
    dut = make_core(account(kam, "alice", transport="tcp"))
    ev = dut.wait("registration")
    assert (ev.value, ev.code) == ("registered", 200)
    assert "transport=tcp" in kam.log().lower()


def test_wrong_password_fails_clearly_without_retry_storm(make_core, kamailio):
    kam = kamailio(USERS)
    dut = make_core(account(kam, "alice", password="wrong"))
    ev = dut.wait("registration")
    assert ev.value == "failed" and ev.code in (401, 403), ev
    later = dut.drain(4.0)
    assert not [e for e in later if e.kind == "registration"], later
    # one unauthenticated REGISTER + one with the wrong digest: both challenged, then silence
    assert 1 <= kam.count("REGISTER alice: challenge") <= 2
    assert kam.count("REGISTER alice: saved") == 0


def test_call_between_two_registered_accounts(make_core, kamailio, pjpeer):
    kam = kamailio(USERS)
    bob = pjpeer(account(kam, "bob"), name="bob")
    assert bob.event("registration")["value"] == "registered"
    dut = make_core(account(kam, "alice"))
    dut.wait("registration", value="registered")
    cid = dut.run("dial", target="bob")  # digits/user names dial in the account's domain
    inc = bob.event("incoming")
    assert (inc["remote_number"], inc["remote_name"]) == ("alice", "Alice")
    bob.send({"kind": "answer", "call_id": inc["call_id"]})
    conn = dut.wait("connected", call_id=cid)
    assert conn.remote_number == "bob"
    dut.run("dtmf", call_id=cid, digits="42")
    assert bob.event("dtmf")["value"] == "4"
    assert bob.event("dtmf")["value"] == "2"
    bob.send({"kind": "hangup", "call_id": inc["call_id"]})
    assert dut.wait("ended", call_id=cid).extra["by"] == "remote"
    assert kam.count("INVITE from alice: proxy challenge") == 1


def test_registered_phone_refuses_invites_not_from_its_registrar(make_core, kamailio, sipp_uac):
    kam = kamailio(USERS)
    dut = make_core(account(kam, "alice"))
    dut.wait("registration", value="registered")
    # a "SIP scanner" on another address calls the phone directly: 403, and it never rings
    scanner = sipp_uac(dut.address, "uac_refused.xml", host="127.0.0.2", values={"code": "403"})
    assert scanner.wait() == 0, scanner.log()
    assert not [e for e in dut.drain(0.5) if e.call_id is not None]  # no incoming, no ended: nothing rang


def test_no_registrar_mode_allows_only_configured_networks(make_core, sipp_uac):
    dut = make_core('[sip]\ninbound_networks = ["127.0.0.1/32"]\n')
    outsider = sipp_uac(dut.address, "uac_refused.xml", host="127.0.0.2", values={"code": "403"})
    assert outsider.wait() == 0, outsider.log()
    assert not [e for e in dut.drain(0.3) if e.kind == "incoming"]
    insider = sipp_uac(dut.address, "uac_call.xml", values={"talk_ms": "200"})
    inc = dut.wait("incoming")
    assert inc.extra["source"] == "127.0.0.1"
    dut.run("answer", call_id=inc.call_id)
    dut.wait("ended", call_id=inc.call_id)
    assert insider.wait() == 0, insider.log()


def test_default_no_registrar_mode_accepts_loopback_callers(make_core, sipp_uac):
    dut = make_core("")
    caller = sipp_uac(dut.address, "uac_call.xml", host="127.0.0.2", values={"talk_ms": "200"})
    inc = dut.wait("incoming")
    assert inc.extra["source"] == "127.0.0.2"
    dut.run("answer", call_id=inc.call_id)
    dut.wait("ended", call_id=inc.call_id)
    assert caller.wait() == 0, caller.log()


def test_failed_registration_retries_with_exponential_backoff(make_core, kamailio):
    kam = kamailio(USERS | {"flaky": "x"})
    dut = make_core(account(kam, "alice").replace('"alice"', '"flaky"') + "retry_interval = 1\nretry_jitter = 0\n")
    import time

    times, delays = [], []
    for _ in range(4):
        ev = dut.wait("registration", value="failed", timeout=12)
        assert ev.code == 503
        times.append(time.monotonic())
        delays.append(ev.extra["retry_in"])
    assert delays == [1.0, 2.0, 4.0, 8.0]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(abs(g - d) < 0.5 for g, d in zip(gaps, delays, strict=False)), gaps
    wait_for(lambda: kam.count("REGISTER flaky: 503") == 4, 5, what="4 REGISTERs in kamailio's log")


def test_backoff_delay_has_jitter_and_a_cap():
    import random

    from usbphone.sip.retry import MAX_DELAY, backoff_delay, retryable

    rng = random.Random(1)
    d = [backoff_delay(n, 60, 15, rng) for n in (1, 2, 3)]
    assert 60 <= d[0] <= 75 and 120 <= d[1] <= 135 and 240 <= d[2] <= 255
    assert len({round(backoff_delay(1, 60, 15, rng), 3) for _ in range(20)}) > 15  # phones do not retry in step
    assert backoff_delay(30, 60, 0) == MAX_DELAY
    assert not retryable(401) and not retryable(403) and retryable(503) and retryable(408)


def test_outbound_proxy_carries_registration_and_calls(make_core, kamailio, pjpeer):
    kam = kamailio(USERS)
    bob = pjpeer(account(kam, "bob") + "[sip]\nauto_answer = true\n", name="bob")
    bob.event("registration")
    dut = make_core(account(kam, "alice") + f'outbound_proxy = "{kam.uri}"\n')
    assert dut.wait("registration").value == "registered"
    cid = dut.run("dial", target="bob")
    dut.wait("connected", call_id=cid)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)


def test_udp_keepalives_to_the_registrar_at_the_configured_rate(make_core, kamailio, capture):
    kam = kamailio(USERS)
    cap = capture(f"udp port {kam.port}")
    dut = make_core(account(kam, "alice") + "keepalive = 5\n")
    dut.wait("registration", value="registered")
    dut.drain(6.5)
    port = dut.address.rsplit(":", 1)[1]
    pings = cap.finish().fields(f"udp.srcport == {port} && udp.dstport == {kam.port} && udp.length == 10",
                                "frame.time_relative")
    assert 1 <= len(pings) <= 2, len(pings)  # CRLF pings, not a storm (see config.py keepalive)


def test_password_never_reaches_the_logs_even_at_full_sip_logging(make_core, kamailio, caplog):
    import logging

    secret = "Pw-7f3a9c-unique"
    kam = kamailio(USERS | {"dave": secret})
    caplog.set_level(logging.DEBUG)
    dut = make_core("[sip]\nlog_level = 6\n" + account(kam, "alice", password=secret).replace('"alice"', '"dave"'))
    assert dut.wait("registration").value == "registered"
    logged = caplog.text
    assert "REGISTER sip:" in logged and "Authorization: Digest" in logged  # pjsip's message log is on
    assert secret not in logged and secret not in repr(dut.core.config)


def test_registration_recovers_after_the_registrar_comes_back(make_core, kamailio):
    kam = kamailio(USERS | {"recover": "recoverpw"})
    text = account(kam, "alice", password="recoverpw").replace('"alice"', '"recover"')
    dut = make_core(text + "retry_interval = 1\nretry_jitter = 0\n")
    first, second = dut.wait("registration"), dut.wait("registration")
    assert (first.value, first.code, second.value, second.code) == ("failed", 503, "failed", 503)
    ok = dut.wait("registration", timeout=10)
    assert (ok.value, ok.code) == ("registered", 200)
    assert dut.drain(2.5) == []  # registered: no more retries

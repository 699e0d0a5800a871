"""Many calls in a row against a real SIPp caller: every call succeeds, nothing piles up (call objects,
threads, file descriptors), and the process survives shutdown. Kept short for CI; raise CALLS to soak."""

from __future__ import annotations

import os
import threading

import pytest

pytestmark = pytest.mark.peers

CALLS = 30


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_auto_answered_calls_leave_nothing_behind(make_core, sipp_uac):
    dut = make_core("[sip]\nauto_answer = true\nmax_calls = 2\n")
    fds, threads = _fds(), threading.active_count()
    uac = sipp_uac(dut.address, sn="uac", calls=CALLS, extra=["-r", "10", "-d", "200", "-l", "2"])
    ended = 0
    while ended < CALLS:
        dut.wait("ended", timeout=20)
        ended += 1
    assert uac.wait(60) == 0, uac.log()  # SIPp: every call successful
    core = dut.core
    assert core.active_call_count() == 0
    assert len(core._dead) <= 2  # only the last (up to 2 parallel) calls: the rest were released as new ones came
    assert threading.active_count() == threads
    assert abs(_fds() - fds) <= 3, (fds, _fds())
    assert len([e for e in dut.seen if e.kind == "connected"]) == CALLS

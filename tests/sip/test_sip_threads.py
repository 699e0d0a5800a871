"""The threading model: only the owner thread may drive CallCore; an idle core costs ~0 % CPU; commands
queued from another thread (as the app's HID reader would) are carried out within milliseconds."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from usbphone.events import CallCommand
from usbphone.sip.core import CallError

pytestmark = pytest.mark.peers


def test_execute_and_shutdown_refuse_other_threads(make_core):
    dut = make_core("")
    errors: list[Exception] = []

    def intruder() -> None:
        for fn in (lambda: dut.core.execute(CallCommand("presence", value="busy")), dut.core.shutdown):
            try:
                fn()
            except CallError as exc:
                errors.append(exc)

    t = threading.Thread(target=intruder)
    t.start()
    t.join(5)
    assert len(errors) == 2 and all("thread" in str(e) for e in errors)
    assert dut.core.started  # the refused shutdown did nothing
    dut.run("presence", value="busy")  # the owner still can


def test_idle_core_uses_almost_no_cpu(make_core):
    dut = make_core("")
    cpu0, t0 = time.process_time(), time.monotonic()
    dut.drain(3.0)  # the app's loop: blocked on its queue
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    print(f"idle CallCore: {100 * cpu / wall:.2f} % of one core over {wall:.1f} s")
    assert cpu / wall < 0.05


def test_command_from_another_thread_runs_within_milliseconds(make_core, sipp_uas):
    uas = sipp_uas("uas_answer.xml")
    dut = make_core("")
    inbox: queue.Queue = queue.Queue()
    sent: list[float] = []

    def hid_reader() -> None:  # a thread pjlib does not know: it only queues the command
        sent.append(time.monotonic())
        inbox.put(CallCommand("dial", target=uas.uri()))

    threading.Thread(target=hid_reader).start()
    cmd = inbox.get(timeout=5)
    cid = dut.core.execute(cmd)  # the owner thread executes it
    dut.wait("ringing", call_id=cid)
    latency = time.monotonic() - sent[0]
    print(f"command queued -> INVITE sent -> 180 received: {1000 * latency:.1f} ms")
    assert latency < 0.5
    dut.wait("connected", call_id=cid)
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0


def test_in_call_cpu_with_null_audio(make_core, sipp_uas):
    uas = sipp_uas("uas_answer.xml")
    dut = make_core('[sip]\ncodecs = ["PCMU"]\n')
    cid = dut.run("dial", target=uas.uri())
    dut.wait("connected", call_id=cid)
    cpu0, t0 = time.process_time(), time.monotonic()
    dut.drain(3.0)  # RTP both ways (SIPp echoes ours), 50 packets/s each
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    print(f"in a call (PCMU, null audio): {100 * cpu / wall:.2f} % of one core")
    assert cpu / wall < 0.15
    dut.run("hangup", call_id=cid)
    dut.wait("ended", call_id=cid)
    assert uas.wait() == 0


def test_shutdown_with_an_unanswered_call_is_clean(make_core):
    """A call still trying (no answer, no provisional response) when the core shuts down."""
    from peers import free_port

    silent = free_port()  # nobody answers there
    dut = make_core("")
    cid = dut.run("dial", target=f"sip:nobody@127.0.0.1:{silent}")
    dut.drain(0.3)
    dut.core.shutdown()  # must return, and the process must not abort later
    assert not dut.core.started
    assert cid is not None


def test_process_exit_without_shutdown_does_not_abort(tmp_path):
    """An app that dies without shutdown(): the interpreter exit must not abort in a pjsua2 destructor."""
    import subprocess
    import sys

    script = tmp_path / "noshut.py"
    script.write_text(
        "import queue, sys\n"
        "from usbphone.config import Config\n"
        "from usbphone.events import CallCommand\n"
        "from usbphone.sip.core import CallCore\n"
        "q = queue.Queue()\n"
        "core = CallCore(Config(), q.put, bind='127.0.0.1:0')\n"
        "core.start()\n"
        "core.execute(CallCommand('dial', target='sip:nobody@127.0.0.1:9'))\n"
        "sys.exit(3)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Assertion" not in r.stderr

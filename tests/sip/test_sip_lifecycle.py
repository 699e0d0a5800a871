"""Several CallCores in one process, one after another (the test suite, a restarted core): whatever still
holds a finished core's objects (an exception traceback that kept start()'s frame, a reference cycle) must not
touch the next core's library. Run in a child process: the failure being guarded against is an abort."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.peers

CHILD = textwrap.dedent("""
    import queue, socket, sys
    from usbphone.config import Config
    from usbphone.events import CallCommand
    from usbphone.sip.bind import BindError
    from usbphone.sip.core import CallCore

    target = sys.argv[1]
    kept = []
    # 1: a core whose start() fails after it created the endpoint; the caller keeps the exception (as
    #    pytest.raises or a logging handler would), and with it start()'s frame and the Endpoint proxy
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        try:
            CallCore(Config(), print, bind=f"127.0.0.1:{s.getsockname()[1]}").start()
        except BindError as exc:
            kept.append(exc)
    print("core 1 refused its busy port", flush=True)
    # 2 and 3: full cores, each placing a real call, each left in a reference cycle after shutdown
    for n in (2, 3, 4):
        events = queue.Queue()
        core = CallCore(Config(), events.put, bind="127.0.0.1:0")
        core.start()
        cid = core.execute(CallCommand("dial", target=target))
        kinds = []
        while "connected" not in kinds and "ended" not in kinds:
            kinds.append(events.get(timeout=10).kind)
        core.execute(CallCommand("hangup", call_id=cid))
        while "ended" not in kinds:
            kinds.append(events.get(timeout=10).kind)
        core.shutdown()
        cycle = {"core": core}
        cycle["self"] = cycle  # freed only by a later garbage collection, under the next core
        print(f"core {n}: {' '.join(kinds)}", flush=True)
    print("done", flush=True)
""")


def test_cores_in_sequence_survive_leftovers_of_the_previous_one(sipp_uas):
    uas = sipp_uas("uas_answer.xml", calls=3)
    r = subprocess.run([sys.executable, "-c", CHILD, uas.uri("100")], capture_output=True, text=True, timeout=90)
    out = r.stdout + r.stderr[-2000:]
    assert r.returncode == 0, out
    assert "core 1 refused its busy port" in r.stdout
    for n in (2, 3, 4):
        assert f"core {n}: " in r.stdout and "connected" in r.stdout.split(f"core {n}: ")[1].splitlines()[0], out
    assert r.stdout.rstrip().endswith("done"), out

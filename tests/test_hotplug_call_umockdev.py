"""Hotplug in the running appliance: plug → announced, unplug mid-call → BYE on the wire, replug → back.

`usbphone run` runs inside a umockdev testbed (tests/hotplug_call_bench.py): the real pyudev monitor,
discovery, hidraw transport, driver, Phone and pjsua2 call core; SIPp answers the call on 127.0.0.1 and
tshark records what goes on the wire. Not reached here: the kernel's ENODEV on a read after unplug (umockdev's
node is a pty; the udev remove is what ends the call) — that runs on real hardware or the QEMU/uhid path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from peers import Capture, Sipp, require
from umockdev_devices import umockdev_available

pytestmark = [pytest.mark.peers, pytest.mark.umockdev,
              pytest.mark.skipif(not umockdev_available(), reason="needs umockdev")]
BENCH = Path(__file__).with_name("hotplug_call_bench.py")


def test_unplug_mid_call_sends_bye_and_replug_reattaches(tmp_path: Path) -> None:
    require("sipp", "tshark")
    cap = Capture(tmp_path).start()
    uas = Sipp.uas(tmp_path, scenario="uas_answer.xml")
    config = tmp_path / "config.toml"
    config.write_text(f'[[account]]\nname = "lan"\nuser = "alice"\ndomain = "127.0.0.1:{uas.port}"\n')
    out = tmp_path / "run-out.txt"
    try:
        proc = subprocess.run(["umockdev-wrapper", sys.executable, str(BENCH), str(config),
                               str(tmp_path / "run.jsonl"), str(out)], capture_output=True, text=True, timeout=180)
        uas_rc = uas.wait(30)
    finally:
        uas.stop()
        cap.finish()
    steps = {m["milestone"]: m for m in (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))}
    context = f"{proc.stdout}\n{proc.stderr[-2000:]}\n{out.read_text(errors='replace') if out.exists() else ''}"
    assert "failed" not in steps and "stopped" in steps, context
    assert steps["attached"]["after"] < 2.0, context  # plugged → opened and announced within 2 s
    assert steps["ended"]["app_alive"] and steps["still running"]["app_alive"], context
    assert steps["reattached"]["after"] < 2.0, context  # replugged (new hidraw number) → back within 2 s
    assert steps["hook re-read"]["hook_off_events"] > steps["hook re-read"]["before"], context
    assert steps["stopped"]["rc"] == 0, context  # SIGTERM: clean exit, no thread left hanging
    assert uas_rc == 0, uas.log()  # SIPp's scenario completed: it got its BYE

    # the BYE on the wire, within 1 s of the unplug
    byes = cap.fields(f'sip.Method == "BYE" && udp.dstport == {uas.port}', "frame.time_epoch",
                      decode=[f"udp.port=={uas.port},sip"])
    assert byes, context
    delay = float(byes[0][0]) - steps["unplug"]["wall"]
    assert 0 <= delay < 1.0, f"BYE {delay:.3f} s after the unplug\n{context}"

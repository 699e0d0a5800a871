"""Several handsets / an unplug that keeps the call, inside umockdev:
``umockdev-wrapper python tests/run_lines_bench.py lines CONFIG LOG OUT BIND_PORT UAC_SCENARIO UAC_PORT UAC_MEDIA``
``umockdev-wrapper python tests/run_lines_bench.py keep CONFIG LOG OUT BIND_PORT``.

keep: one headset dials 100# (SIPp answers), is unplugged mid-call ([phone] unplugged_call = "keep": the call
goes on), is plugged back in still lifted, then hung up (BYE).

Plugs three GN-style headsets (serials A, B, C; the config binds A to line "one", B to line "two", C to
nothing = the default line "one"), has SIPp (a child without the umockdev preload) call line one's user,
lifts C to answer while A also rings, then lifts B and dials 100# (line two). Prints one JSON milestone per
step; tests/test_run_lines.py asserts on them and on the event log. Edit when the scenario changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import hotplug_call_bench as hb  # noqa: E402
from umockdev_devices import FakeUsbDevice  # noqa: E402

gen, say = hb.gen, hb.say


class LinesBench(hb.Bench):
    def __init__(self, config: str, log: str, out: str, port: int) -> None:
        self.tb = hb.UMockdev.Testbed.new()
        self.log, self.out_path = Path(log), Path(out)
        argv = [sys.executable, "-m", "usbphone.cli", "run", "--config", config, "--bind", f"127.0.0.1:{port}",
                "--log-json", log]
        self.out = open(out, "wb")  # noqa: SIM115 - closed in finish()
        self.app = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT,
                                    cwd=hb.ROOT, start_new_session=True)

    def commands_for(self, key: str, command: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("kind") == "handset_command" and r.get("handset") == key
                and r.get("command") == command]


def headset(serial: str, n: int) -> FakeUsbDevice:
    return FakeUsbDevice(0x0B0E, 0x0307, serial=serial, product=f"GN test headset {serial}", port=f"1-{n + 1}",
                         hidraw=f"hidraw{n}", devnum=n + 2, instance=n + 1, descriptor=gen.gn_descriptor())


def scenario(b: LinesBench, port: int, uac_argv: list[str]) -> None:
    b.wait("ready status", lambda r: r.get("status") == "ready", 60)
    devs = {s: headset(s, i) for i, s in enumerate("ABC")}
    for n, dev in enumerate(devs.values(), 1):
        # one at a time: umockdev hands uevents to the app's monitor over a unix datagram socket whose queue
        # holds net.unix.max_dgram_qlen (default 10) messages, and aborts the sender when it is full; three
        # headsets plugged at once are 12 uevents
        b.plug(dev)
        b.wait(f"{n} handset(s)", lambda _, n=n: b.count(lambda r: r.get("status") == "handset_attached") >= n, 10)
    keys = {r["name"].split(" (")[0][-1]: r["handset"] for r in b.records() if r.get("status") == "handset_attached"}
    lines = {r["handset"]: r["line"] for r in b.records() if r.get("status") == "handset_attached"}
    say("attached", keys=keys, lines=lines)
    for dev in devs.values():
        b.send(dev, gen.gn_in(hook=0), gap=0.05)

    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
    uac = subprocess.Popen(uac_argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=env, start_new_session=True)
    try:
        b.wait("A and C ringing", lambda _: b.commands_for(keys["A"], "ring") and b.commands_for(keys["C"], "ring"), 15)
        time.sleep(0.5)
        say("ringing", ringing={s: [c["value"] for c in b.commands_for(keys[s], "ring")] for s in "ABC"})
        b.send(devs["C"], gen.gn_in(hook=1), gap=0.3)  # C answers
        b.wait("call connected", lambda r: r.get("kind") == "call_event" and r.get("event") == "connected", 15)
        time.sleep(0.5)
        say("answered", ringing={s: [c["value"] for c in b.commands_for(keys[s], "ring")] for s in "ABC"})
        b.wait("caller hung up", lambda r: r.get("kind") == "call_event" and r.get("event") == "ended", 20)
        say("uac", rc=uac.wait(20))
    finally:
        if uac.poll() is None:
            uac.kill()
            uac.wait(5)
    b.send(devs["C"], gen.gn_in(hook=0), gap=0.3)
    b.send(devs["B"], gen.gn_in(hook=1), gap=0.5)  # B (line two) calls out
    b.dial(devs["B"], "100#")
    b.wait("B's call connected", lambda _: b.count(lambda r: r.get("kind") == "call_event"
                                                   and r.get("event") == "connected") >= 2, 20)
    time.sleep(0.5)
    b.send(devs["B"], gen.gn_in(hook=0), gap=1.0)
    say("called out")


def keep(b: LinesBench) -> None:
    def ended() -> int:
        return b.count(lambda r: r.get("kind") == "call_event" and r.get("event") == "ended")

    def attached() -> int:
        return b.count(lambda r: r.get("status") == "handset_attached")

    b.wait("ready status", lambda r: r.get("status") == "ready", 60)
    dev = headset("K", 0)
    b.plug(dev)
    b.wait("handset attached", lambda _: attached() >= 1, 10)
    b.send(dev, gen.gn_in(hook=0))
    b.send(dev, gen.gn_in(hook=1), gap=0.5)
    b.dial(dev, "100#")
    b.wait("call connected", lambda r: r.get("kind") == "call_event" and r.get("event") == "connected", 20)
    time.sleep(1.0)
    say("unplug")
    b.unplug(dev)
    time.sleep(2.5)
    say("after unplug", ended=ended(), app_alive=b.app.poll() is None)
    again = headset("K", 4)  # new hidraw/devnum, same serial
    b.plug(again)
    b.wait("handset re-attached", lambda _: attached() >= 2, 10)
    b.send(again, gen.gn_in(hook=1), gap=1.0)  # still lifted: the kept call carries on
    say("replugged", ended=ended())
    say("hang up")
    b.send(again, gen.gn_in(hook=0), gap=0.3)
    b.wait("call ended", lambda _: ended() >= 1, 10)
    say("hung up")


def main() -> int:
    mode, config, log, out, port = sys.argv[1:6]
    b = LinesBench(config, log, out, int(port))
    try:
        if mode == "keep":
            keep(b)
        else:
            uac_scenario, uac_port, uac_media = sys.argv[6:9]
            uac_argv = ["sipp", f"127.0.0.1:{port}", "-sf", uac_scenario, "-m", "1", "-s", "alice", "-i",
                        "127.0.0.1", "-p", uac_port, "-mi", "127.0.0.1", "-mp", uac_media, "-nostdin", "-timeout",
                        "60s", "-timeout_error"]
            scenario(b, int(port), uac_argv)
    except SystemExit as exc:
        say("failed", reason=str(exc))
    finally:
        b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

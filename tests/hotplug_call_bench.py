"""Unplug a headset mid-call, inside umockdev: ``umockdev-wrapper python tests/hotplug_call_bench.py CONFIG LOG OUT``.

Creates a UMockdev testbed, starts `usbphone run` as a child (it inherits the testbed through LD_PRELOAD and
UMOCKDEV_DIR, so its pyudev monitor, discovery and hidraw transport run unmodified on the emulated node),
plugs a GN-style headset (descriptor from tools/gen_headset_traces.py), types input reports into the node's
other end (lift, dial 100#), waits for the call to connect, unplugs the headset, replugs it already lifted,
then stops the app with SIGTERM. Prints one JSON object per milestone with wall-clock times; the assertions
are in tests/test_hotplug_call_umockdev.py. Edit when the scenario changes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from umockdev_devices import FakeUsbDevice  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_headset_traces", ROOT / "tools" / "gen_headset_traces.py")
gen = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(gen)  # type: ignore[union-attr]
KEYPAD = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}  # GN key pad array values (gen_headset_traces)


def say(milestone: str, **kw: Any) -> None:
    print(json.dumps({"milestone": milestone, "wall": time.time(), **kw}), flush=True)


class Bench:
    def __init__(self, config: str, log: str, out: str) -> None:
        self.tb = UMockdev.Testbed.new()
        self.log, self.out_path = Path(log), Path(out)
        argv = [sys.executable, "-m", "usbphone.cli", "run", "--config", config, "--bind", "127.0.0.1:0",
                "--log-json", log]
        self.out = open(out, "wb")  # noqa: SIM115 - closed in finish()
        self.app = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT,
                                    cwd=ROOT, start_new_session=True)

    # -- observing the app ---------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait(self, what: str, pred: Any, timeout: float, source: str = "log") -> float:
        """Seconds until ``pred`` holds for a log record (or an output line); raises on timeout."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            items = self.records() if source == "log" else self.out_path.read_text(errors="replace").splitlines()
            if any(pred(x) for x in items):
                return time.monotonic() - start
            if self.app.poll() is not None:
                raise SystemExit(f"usbphone run exited ({self.app.returncode}) while waiting for {what}")
            time.sleep(0.02)
        raise SystemExit(f"no {what} within {timeout} s")

    def attach_lines(self) -> int:
        lines = self.out_path.read_text(errors="replace").splitlines()
        return sum(1 for line in lines if line.startswith("handset: GN test headset"))

    def count(self, pred: Any) -> int:
        return sum(1 for r in self.records() if pred(r))

    # -- the device ----------------------------------------------------------------------------------
    def plug(self, dev: FakeUsbDevice) -> None:
        self.tb.add_from_string(dev.description())
        for path in (dev.usb_syspath, dev.interface_syspath, f"{dev.interface_syspath}/{dev.hid_name}",
                     dev.hidraw_syspath):
            self.tb.uevent("/sys" + path, "add")

    def unplug(self, dev: FakeUsbDevice) -> None:
        for path in (dev.hidraw_syspath, f"{dev.interface_syspath}/{dev.hid_name}", dev.interface_syspath,
                     dev.usb_syspath):
            self.tb.uevent("/sys" + path, "remove")
            self.tb.remove_device("/sys" + path)

    def send(self, dev: FakeUsbDevice, report: bytes, gap: float = 0.15) -> None:
        os.write(self.tb.get_dev_fd(dev.node), report)
        time.sleep(gap)

    def dial(self, dev: FakeUsbDevice, digits: str) -> None:
        for d in digits:
            self.send(dev, gen.gn_in(hook=1, key=KEYPAD[d]))
            self.send(dev, gen.gn_in(hook=1), gap=0.3)

    def finish(self) -> None:
        if self.app.poll() is None:
            os.killpg(self.app.pid, signal.SIGTERM)
            try:
                self.app.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.app.pid, signal.SIGKILL)
                self.app.wait(5)
        self.out.close()
        say("stopped", rc=self.app.returncode)


def headset(**kw: Any) -> FakeUsbDevice:
    return FakeUsbDevice(0x0B0E, 0x0307, serial="E2E-1", product="GN test headset", descriptor=gen.gn_descriptor(),
                         **kw)


def scenario(b: Bench) -> None:
    b.wait("ready status", lambda r: r.get("status") == "ready", 60)
    say("ready")
    first = headset(hidraw="hidraw0", devnum=2, instance=1)
    say("plug")
    b.plug(first)
    latency = b.wait("handset attached", lambda _: b.attach_lines() >= 1, 10, "out")
    say("attached", after=latency)
    b.send(first, gen.gn_in(hook=0))  # first report: on hook, establishes state
    b.send(first, gen.gn_in(hook=1), gap=0.5)  # lift
    b.dial(first, "100#")
    b.wait("call connected", lambda r: r.get("kind") == "call_event" and r.get("event") == "connected", 20)
    say("connected")
    time.sleep(1.0)
    say("unplug")
    b.unplug(first)
    ended = b.wait("call ended", lambda r: r.get("kind") == "call_event" and r.get("event") == "ended", 10)
    say("ended", after=ended, app_alive=b.app.poll() is None)
    time.sleep(1.0)
    say("still running", app_alive=b.app.poll() is None)
    hooks_before = b.count(lambda r: r.get("event") == "hook" and r.get("value") == "off")
    again = headset(hidraw="hidraw4", devnum=6, instance=7)  # new numbers, same serial and port
    say("replug")
    b.plug(again)
    latency = b.wait("handset re-attached", lambda _: b.attach_lines() >= 2, 10, "out")
    say("reattached", after=latency)
    b.send(again, gen.gn_in(hook=1), gap=0.5)  # replugged while lifted: the first report says so
    b.wait("hook off after replug",
           lambda _: b.count(lambda r: r.get("event") == "hook" and r.get("value") == "off") > hooks_before, 5)
    say("hook re-read", hook_off_events=b.count(lambda r: r.get("event") == "hook" and r.get("value") == "off"),
        before=hooks_before)


def main() -> int:
    b = Bench(*sys.argv[1:4])
    try:
        scenario(b)
    except SystemExit as exc:
        say("failed", reason=str(exc))
    finally:
        b.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the `usbphone run` end-to-end tests: scripted handset traces and a running appliance.

Traces use the GN/Jabra-style descriptor the project wrote itself (tools/gen_headset_traces.py, from
../shared/protocols/usb-phone-protocols.md §4.2), so they match devices/jabra-gn and need no shared data.
``App`` runs `usbphone run --replay TRACE --log-json LOG` as a child process (its own session, stopped by
PID) and reads the JSON log back. Edit when the run tests need a new kind of step.
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

from usbphone.hid.trace import Trace, TraceReport

ROOT = Path(__file__).resolve().parents[1]
USBPHONE = [sys.executable, "-m", "usbphone.cli", "run"]
_spec = importlib.util.spec_from_file_location("gen_headset_traces", ROOT / "tools" / "gen_headset_traces.py")
gen = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(gen)  # type: ignore[union-attr]

KEYPAD = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}  # Telephony Key Pad 0xB0..0xBB, 12 = no key


class Script:
    """Build a GN-style trace: ``Script().at(0.5).lift().dial("100#").wait(3).press("5").hang_up()``."""

    def __init__(self) -> None:
        self.t = 0.0
        self.hook = 0
        self.reports: list[TraceReport] = [TraceReport(0.0, gen.gn_in())]

    def _add(self, **bits: int) -> None:
        self.reports.append(TraceReport(round(self.t, 6), gen.gn_in(hook=self.hook, **bits)))

    def at(self, t: float) -> Script:
        self.t = max(self.t, t)
        return self

    def wait(self, dt: float) -> Script:
        self.t += dt
        return self

    def lift(self) -> Script:
        self.hook = 1
        self._add()
        return self.wait(0.5)

    def hang_up(self) -> Script:
        self.hook = 0
        self._add()
        return self.wait(0.5)

    def dial(self, digits: str, gap: float = 0.4) -> Script:
        for d in digits:
            self._add(key=KEYPAD[d])
            self.wait(0.15)
            self._add()
            self.wait(gap)
        return self

    press = dial

    def button(self, name: str, gap: float = 0.4) -> Script:
        self._add(**{name: 1})
        self.wait(0.1)
        self._add()
        return self.wait(gap)

    def idle_until(self, t: float) -> Script:
        self.at(t)
        self._add()
        return self

    def save(self, path: Path) -> Path:
        Trace(name="GN-style test headset", phys="usb-0000:00:14.0-3/input3", bus=3, vid=0x0B0E, pid=0x0307,
              descriptor=gen.gn_descriptor(), reports=self.reports,
              comments=["scripted by tests/run_support.py"], path=str(path)).save(path)
        return path


class App:
    """`usbphone run` as a child process with a JSON log; ``stop()`` ends it by PID (TERM, then KILL)."""

    def __init__(self, tmp: Path, trace: Path | None, config: str | None = None, bind: str = "127.0.0.1:0",
                 extra: list[str] | None = None) -> None:
        self.log_path = tmp / f"run-{time.monotonic_ns()}.jsonl"
        self.out_path = tmp / "run-out.txt"
        argv = [*USBPHONE, "--bind", bind, "--log-json", str(self.log_path), *(extra or [])]
        if trace is not None:
            argv += ["--replay", str(trace)]
        env = dict(os.environ, HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / ".config"))
        env.pop("USBPHONE_CONFIG", None)
        if config is not None:
            cfg = tmp / "config.toml"
            cfg.write_text(config)
            argv += ["--config", str(cfg)]
        self._out = open(self.out_path, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                                  cwd=ROOT, env=env, start_new_session=True)

    def records(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line being written right now
        return out

    def wait_for(self, pred: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = next((r for r in self.records() if pred(r)), None)
            if hit is not None:
                return hit
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s; output:\n{self.output()}\nlog:\n"
                             + "\n".join(json.dumps(r) for r in self.records()[-40:]))

    def ready(self, timeout: float = 30) -> dict[str, Any]:
        return self.wait_for(lambda r: r.get("status") == "ready", timeout, "ready status")

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"usbphone run did not exit within {timeout} s:\n{self.output()}") from None

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.out_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        if not self._out.closed:
            self._out.close()


def uac_rejected(tmp: Path, target: str, code: int) -> Any:
    """A SIPp UAC expecting ``code``; 180 is optional (the phone may refuse before the core's 180 goes out)."""
    from peers import SCENARIOS, Sipp, free_port

    text = (SCENARIOS / "uac_rejected.xml").read_text().replace("@code@", str(code))
    text = text.replace('<recv response="180"/>', '<recv response="180" optional="true"/>')
    path = tmp / f"uac_rejected_{code}_{time.monotonic_ns()}.xml"
    path.write_text(text)
    return Sipp(tmp, [target, "-sf", str(path), "-m", "1", "-s", "usbphone"], f"uac_rejected_{code}", free_port())


def commands(records: list[dict[str, Any]], command: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "handset_command" and command in (None, r.get("command"))]


def call_commands(records: list[dict[str, Any]], command: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "call_command" and command in (None, r.get("command"))]


def call_events(records: list[dict[str, Any]], event: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "call_event" and event in (None, r.get("event"))]

"""`usbphone send` to an attached Yealink asks it its model first (VERSION, also with --dry-run: queries only),
so a B2K gets B2K packets; a trace's device is its header, and stderr says when its replies name another
model. The phone is the protocol simulator behind the transport seam (the only mock: USB hardware)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from usbphone.commands import send
from usbphone.drivers import yealink_proto as yp
from usbphone.events import HandsetCommand
from usbphone.hid.discovery import Found
from usbphone.hid.open import select_driver
from usbphone.hid.simulators.yealink import YealinkSimulator
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo

ROOT = Path(__file__).resolve().parents[1]


def attached(monkeypatch: pytest.MonkeyPatch, sim: object) -> tuple[Found, object]:
    info = DeviceInfo(vid=0x6993, pid=0xB001, name="USB-PHONE", path="/dev/bus/usb/001/007")
    found = Found(info, "usb", profile_by_id("yealink-usb-p1k"), True, "read/write ok")
    monkeypatch.setattr(send, "open_transport", lambda info, profile, driver: sim)
    return found, select_driver(info, "yealink-usb-p1k")[1]


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_attached_b2k_is_asked_its_model_first(monkeypatch: pytest.MonkeyPatch, dry_run: bool) -> None:
    sim = YealinkSimulator("b2k")
    found, driver = attached(monkeypatch, sim)
    outs = send._live(found, found.profile, driver, HandsetCommand("ring", "on"), dry_run)
    assert [yp.parse_packet(o.data).name for o in outs] == ["B2K_RING"]  # not the P1K's RINGTONE
    assert sim.commands("VERSION") and sim.closed
    assert sim.state.get("B2K_RING") == (None if dry_run else 1)  # a dry run writes only the queries


def test_a_silent_phone_is_said_and_the_profile_model_used(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    class Silent(YealinkSimulator):
        def _reply(self, cmd: int, data: bytes = b"", size: int = 1) -> None:
            pass

    monkeypatch.setattr("usbphone.drivers.probe.time.monotonic", _fast_clock())
    found, driver = attached(monkeypatch, Silent("b2k"))
    outs = send._live(found, found.profile, driver, HandsetCommand("ring", "on"), False)
    assert [yp.parse_packet(o.data).name for o in outs] == ["RINGTONE"]
    assert "did not say what it is within 1 s; going on as model unknown yet" in capsys.readouterr().err


def _fast_clock() -> object:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.01
        return now[0]

    return clock


def test_a_trace_is_its_header_and_stderr_names_the_recorded_model() -> None:
    exe = Path(sys.executable).parent / "usbphone"
    res = subprocess.run([str(exe), "send", "devices/yealink-usb-p1k/traces/b2k-hook.hid", "ring", "on", "--dry-run"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.startswith("control 03 ")  # RINGTONE: the header says 6993:b001
    assert res.stderr.count("\n") == 1 and "replies name model B2K (version 0x0525)" in res.stderr
    assert 'model = "b2k"' in res.stderr

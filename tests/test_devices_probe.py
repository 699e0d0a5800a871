"""`usbphone devices` asks a Yealink phone its model (VERSION) through the real driver loop; the phone is the
protocol simulator behind the transport seam (the only mock: USB hardware). Probing is bounded in time and
a failure is a note, never a traceback."""

from __future__ import annotations

import threading

import pytest

from usbphone.commands import devices
from usbphone.drivers.base import OutputReport
from usbphone.hid.discovery import Found
from usbphone.hid.simulators.yealink import YealinkSimulator
from usbphone.hid.transport import TransportError
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo


def found(profile: str = "yealink-usb-p1k", may_open: bool = True) -> Found:
    info = DeviceInfo(vid=0x6993, pid=0xB001, name="USB-PHONE", path="/dev/bus/usb/001/007")
    return Found(info, "usb", profile_by_id(profile), may_open, "read/write ok" if may_open else "owned by root")


@pytest.mark.parametrize("model,version,caps", [("b3g", "0x0550", "hook(absolute)"), ("p4k", "0x0240", "speaker"),
                                                ("b2k", "0x0525", "hook(absolute)")])
def test_devices_shows_the_model_the_phone_names(model: str, version: str, caps: str) -> None:
    sims: list[YealinkSimulator] = []

    def opener(f: Found, driver: object) -> YealinkSimulator:
        sims.append(YealinkSimulator(model))
        return sims[-1]

    row = devices.describe(found(), opener=opener)
    assert row["notes"][0] == f"model {model.upper()} ({'version ' + version})"
    assert row["notes"][1].startswith("serial ")
    assert caps in row["capabilities"]  # capabilities follow the detected model
    assert sims[0].closed and sims[0].commands("VERSION")


def test_no_probe_and_no_permission_do_not_open() -> None:
    opened: list[Found] = []

    def opener(f: Found, driver: object) -> YealinkSimulator:
        opened.append(f)
        return YealinkSimulator("b3g")

    row = devices.describe(found(), probe_device=False, opener=opener)
    assert row["notes"] == ["model unknown yet (treated as P1K until it answers VERSION)"]
    row = devices.describe(found(may_open=False), opener=opener)
    assert not opened and row["may_open"] is False


class Refusing:
    def open(self) -> None:
        raise TransportError("USB device 6993:b001 is in use by yealink and could not be taken over: unload it")

    def read(self, timeout: float | None) -> bytes | None:
        return None

    def write(self, report: OutputReport) -> None: ...

    def close(self) -> None: ...


class Hanging(Refusing):
    def __init__(self) -> None:
        self.release = threading.Event()

    def open(self) -> None:
        self.release.wait(30)


class Silent(Refusing):
    def open(self) -> None: ...


def test_probe_failures_are_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    row = devices.describe(found(), opener=lambda f, d: Refusing())
    assert row["notes"][-1].startswith("not probed: USB device 6993:b001 is in use by yealink")
    monkeypatch.setattr(devices, "PROBE_TIMEOUT", 0.2)
    row = devices.describe(found(), opener=lambda f, d: Silent())
    assert row["notes"][-1] == "the device did not say what it is within 0.2 s"
    hanging = Hanging()
    monkeypatch.setattr(devices, "PROBE_LIMIT", 0.3)
    try:
        row = devices.describe(found(), opener=lambda f, d: hanging)
    finally:
        hanging.release.set()
    assert row["notes"][-1] == "not probed: the device did not answer within 0.3 s"

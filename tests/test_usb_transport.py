"""pyusb transport: a fake pyusb device (the only mock: USB hardware) wrapping the protocol simulators, so the
real UsbTransport code (interface choice, kernel-driver detach/re-attach, SET_REPORT, interrupt reads, error
messages) runs under the real DeviceRunner and drivers."""

from __future__ import annotations

import errno
import time
from typing import Any

import pytest
import usb.core

from usbphone.drivers.base import OutputReport
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.simulators.cm109 import CM109Simulator
from usbphone.hid.simulators.yealink import YealinkSimulator
from usbphone.hid.transport import TransportError
from usbphone.hid.usb import UsbTransport
from usbphone.profiles.loader import profile_by_id
from usbphone.profiles.schema import DeviceInfo


class FakeEndpoint:
    def __init__(self, address: int, size: int) -> None:
        self.bEndpointAddress, self.bmAttributes, self.wMaxPacketSize = address, 0x03, size


class FakeInterface:
    def __init__(self, number: int, cls: int, endpoints: list[FakeEndpoint]) -> None:
        self.bInterfaceNumber, self.bInterfaceClass, self.bAlternateSetting = number, cls, 0
        self._eps = endpoints

    def endpoints(self) -> list[FakeEndpoint]:
        return self._eps


class FakeCtx:
    def __init__(self, dev: FakeDevice) -> None:
        self.dev = dev

    def managed_claim_interface(self, device: Any, interface: int) -> None:
        if self.dev.claim_error:
            raise usb.core.USBError("Resource busy", errno=self.dev.claim_error)
        self.dev.claimed = interface

    def managed_release_interface(self, device: Any, interface: int) -> None:
        self.dev.claimed = None

    def dispose(self, device: Any) -> None:
        pass


class FakeDevice:
    """What pyusb hands out for a phone: audio interface 0, HID interface 3 with an interrupt IN endpoint."""

    def __init__(self, sim: Any, in_size: int, *, kernel_driver: bool = True) -> None:
        self.sim, self.bus, self.address, self.port_numbers = sim, 1, 7, (2,)
        self.config = [FakeInterface(0, 1, []), FakeInterface(3, 3, [FakeEndpoint(0x81, in_size)])]
        self.kernel_bound = kernel_driver
        self.detach_error = 0
        self.claim_error = 0
        self.claimed: int | None = None
        self.reattached = False
        self.unplugged = False
        self.controls: list[tuple[int, int, int, int, bytes]] = []
        self._ctx = FakeCtx(self)

    def get_active_configuration(self) -> list[FakeInterface]:
        return self.config

    def is_kernel_driver_active(self, n: int) -> bool:
        return self.kernel_bound

    def detach_kernel_driver(self, n: int) -> None:
        if self.detach_error:
            raise usb.core.USBError("denied", errno=self.detach_error)
        self.kernel_bound = False

    def attach_kernel_driver(self, n: int) -> None:
        self.kernel_bound = self.reattached = True

    def ctrl_transfer(self, bm: int, req: int, value: int, index: int, data: bytes, timeout: int) -> int:
        if self.unplugged:
            raise usb.core.USBError("No such device", errno=errno.ENODEV)
        self.controls.append((bm, req, value, index, bytes(data)))
        self.sim.write(OutputReport(bytes(data), "control"))
        return len(data)

    def read(self, ep: int, size: int, timeout_ms: int) -> bytes:
        if self.unplugged:
            raise usb.core.USBError("No such device", errno=errno.ENODEV)
        data = self.sim.read(timeout_ms / 1000)
        if data is None:
            raise usb.core.USBTimeoutError("timeout", errno=errno.ETIMEDOUT)
        return data


def transport_for(dev: FakeDevice, profile_id: str, driver: Any, **kw: Any) -> UsbTransport:
    info = DeviceInfo(vid=0x6993, pid=0xB001, path="/dev/bus/usb/001/007")
    t = UsbTransport.for_device(info, profile_by_id(profile_id), driver)
    t.finder = lambda *a: dev if a[2:4] == (1, 7) else None
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def yealink_driver() -> Any:
    from usbphone.drivers.yealink import YealinkDriver

    return YealinkDriver(profile_by_id("yealink-usb-p1k"), DeviceInfo(vid=0x6993, pid=0xB001))


def run_until(runner: DeviceRunner, events: list[HandsetEvent], word: str, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if word in [str(e) for e in list(events)]:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("model,size", [("p1k", 16), ("p1kh", 8)])
def test_yealink_over_usb_transport(model: str, size: int) -> None:
    sim = YealinkSimulator(model)
    dev = FakeDevice(sim, size)
    driver = yealink_driver()
    t = transport_for(dev, "yealink-usb-p1k", driver)
    events: list[HandsetEvent] = []
    runner = DeviceRunner(driver, t, events.append)  # list.append is atomic; readers copy the list
    runner.start()
    try:
        assert dev.claimed == 3 and not dev.kernel_bound  # HID interface 3 claimed, kernel driver detached
        assert driver.gen == (2 if size == 8 else 1)  # generation from the endpoint size (§2.1)
        deadline = time.monotonic() + 3
        while driver.phase != "scan" and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        sim.press(0x11 if model == "p1k" else 0x06)
        assert run_until(runner, events, "key 5"), events
        runner.send(HandsetCommand.parse(["lcd", "42"]))
        deadline = time.monotonic() + 3
        while sim.line3() != "42          " and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.line3() == "42          "
    finally:
        runner.stop()
    assert dev.reattached and dev.claimed is None  # kernel driver given back on exit
    assert all(c[:4] == (0x21, 0x09, 0x0200, 3) for c in dev.controls)  # SET_REPORT, Output, wIndex 3 (§2.2)
    if size == 8:
        stamps = [p for p in sim.writes if p.name == "LCD"]
        assert stamps, "LCD packets reached the phone"


def test_cm109_over_usb_transport() -> None:
    from usbphone.drivers.cm109 import CM109Driver

    sim = CM109Simulator()
    dev = FakeDevice(sim, 4, kernel_driver=False)
    driver = CM109Driver(profile_by_id("cm109-usb-phone"), DeviceInfo(vid=0x0D8C, pid=0x000E))
    t = transport_for(dev, "cm109-usb-phone", driver)
    events: list[HandsetEvent] = []
    runner = DeviceRunner(driver, t, events.append)
    runner.start()
    try:
        time.sleep(0.1)
        sim.press(0x22)
        assert run_until(runner, events, "key 5"), events
        runner.send(HandsetCommand.parse(["ring", "on"]))
        assert sim.buzzer
    finally:
        runner.stop()
    assert not dev.reattached  # nothing was detached, nothing re-attached


def test_unplug_becomes_device_detached() -> None:
    sim = YealinkSimulator("p1k")
    dev = FakeDevice(sim, 16)
    driver = yealink_driver()
    events: list[HandsetEvent] = []
    runner = DeviceRunner(driver, transport_for(dev, "yealink-usb-p1k", driver), events.append)
    runner.start()
    try:
        time.sleep(0.2)
        dev.unplugged = True
        assert run_until(runner, events, "device detached"), events
        assert "unplugged" in runner.error
    finally:
        runner.stop()


@pytest.mark.parametrize("where,code,needle", [
    ("detach", errno.EACCES, "no permission"),
    ("claim", errno.EBUSY, "in use by"),
    ("claim", errno.EACCES, "udev rules"),
])
def test_open_errors_are_one_clear_sentence(where: str, code: int, needle: str) -> None:
    dev = FakeDevice(YealinkSimulator("p1k"), 16)
    if where == "detach":
        dev.detach_error = code
    else:
        dev.claim_error = code
    t = transport_for(dev, "yealink-usb-p1k", yealink_driver())
    with pytest.raises(TransportError, match=needle) as info:
        t.open()
    assert "\n" not in str(info.value) and "6993:b001" in str(info.value)


def test_not_attached_and_detach_switched_off() -> None:
    dev = FakeDevice(YealinkSimulator("p1k"), 16)
    t = transport_for(dev, "yealink-usb-p1k", yealink_driver())
    t.finder = lambda *a: None
    with pytest.raises(TransportError, match="not attached") as info:
        t.open()
    assert info.value.gone
    t = transport_for(dev, "yealink-usb-p1k", yealink_driver(), detach=False)
    with pytest.raises(TransportError, match="detaching is switched off"):
        t.open()


def test_claim_failure_after_detach_gives_the_interface_back() -> None:
    dev = FakeDevice(YealinkSimulator("p1k"), 16)
    dev.claim_error = errno.EBUSY  # another program holds the interface once the kernel driver is gone
    t = transport_for(dev, "yealink-usb-p1k", yealink_driver())
    with pytest.raises(TransportError, match="close the other program using it"):
        t.open()
    assert dev.reattached and dev.kernel_bound and t.detached_driver == ""


def test_busy_detach_of_an_unnamed_driver_names_no_module() -> None:
    dev = FakeDevice(YealinkSimulator("p1k"), 16)
    dev.detach_error = errno.EBUSY
    t = transport_for(dev, "yealink-usb-p1k", yealink_driver())
    with pytest.raises(TransportError) as info:
        t.open()
    assert "modprobe" not in str(info.value) and "in use by another program or kernel driver" in str(info.value)

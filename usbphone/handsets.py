"""The app's handsets: a real device (or a replayed trace) behind a DeviceRunner, opened for `usbphone run`.

``open_replay(path, ...)`` makes a recorded trace the handset (its timing honoured); ``open_live(found, ...)``
opens a device discovery/hotplug reported. Both give a ``DeviceHandset``: ``send(HandsetCommand)`` encodes
and writes (the writes go to ``on_write`` for the event log), ``stop()`` sends the driver's goodbye writes
and closes. The virtual terminal handset (usbphone/virtual_handset.py) has the same two methods.
Edit this module when the way the app opens a handset changes; the wiring is in usbphone/app.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from usbphone.drivers.base import Capabilities, OutputReport
from usbphone.errors import UserError
from usbphone.events import HandsetCommand, HandsetEvent

log = logging.getLogger("usbphone.app")

Emit = Callable[[HandsetEvent], None]
OnWrite = Callable[[OutputReport], None]


class DeviceHandset:
    """A real (or replayed) device behind a DeviceRunner; ``key`` identifies it across replugs."""

    def __init__(self, runner: Any, caps: Capabilities, name: str, key: str = "", on_write: OnWrite | None = None,
                 syspath: str | None = None) -> None:
        self.runner, self.caps, self.name, self.key = runner, caps, name, key
        self.on_write = on_write
        self.syspath = syspath  # sysfs node of the HID interface: the audio bridge finds its sound card by it

    def send(self, cmd: HandsetCommand) -> None:
        try:
            writes = self.runner.send(cmd)
        except UserError as exc:  # TransportError: the device went away mid-write
            log.warning("%s: %s", self.name, exc)
            return
        if self.on_write is not None:
            for out in writes:
                self.on_write(out)

    def stop(self) -> None:
        self.runner.stop()


def open_replay(path: str, emit: Emit, on_write: OnWrite | None = None) -> tuple[DeviceHandset, Any, str]:
    """(handset, its ReplayTransport, a status line). The runner is not started yet: start it when ready."""
    from usbphone.hid.open import device_info_from_trace, select_driver
    from usbphone.hid.replay import ReplayTransport
    from usbphone.hid.runner import DeviceRunner
    from usbphone.hid.trace import load_trace

    trace = load_trace(path)
    dev = device_info_from_trace(trace)
    profile, driver = select_driver(dev)
    transport = ReplayTransport(trace)
    runner = DeviceRunner(driver, transport, emit, name=profile.id if profile else dev.name)
    handset = DeviceHandset(runner, driver.capabilities(), dev.name or dev.id_text, "replay", on_write)
    prof = profile.id if profile else "generic HID telephony (from its report descriptor)"
    return handset, transport, f"replay of {path}: {dev.name or dev.id_text} [{prof}], {transport.duration:.1f} s"


def open_live(found: Any, key: str, emit: Emit, on_write: OnWrite | None = None) -> DeviceHandset:
    """Open and start a discovered device (``hid.discovery.Found``); UserError says why it cannot be used."""
    from usbphone.hid.open import open_transport, select_driver
    from usbphone.hid.runner import DeviceRunner

    info = found.info
    if not found.may_open:
        raise UserError(f"found {info.name} ({info.id_text}) but cannot open {info.path}: {found.access}")
    profile, driver = select_driver(info)
    transport = open_transport(info, profile, driver)
    runner = DeviceRunner(driver, transport, emit, name=info.name)
    runner.start()
    name = f"{info.name} ({info.id_text}) [{profile.id if profile else 'generic HID telephony'}]"
    syspath = "/sys/class/hidraw/" + info.path.rsplit("/", 1)[1] if info.path.startswith("/dev/hidraw") else None
    return DeviceHandset(runner, driver.capabilities(), name, key, on_write, syspath)

"""The app's handsets: a real device (or a replayed trace) behind a DeviceRunner, opened for `usbphone run`.

``open_replay(path, ...)`` makes a recorded trace the handset (its timing honoured); ``open_live(found, ...)``
opens a device discovery/hotplug reported. Both give a ``DeviceHandset``: ``send(HandsetCommand)`` encodes
and writes (the writes go to ``on_write`` for the event log), ``stop()`` sends the driver's goodbye writes
and closes. The virtual terminal handset (usbphone/virtual_handset.py) has the same two methods.

Lines: the config's ``[device]`` table binds handsets to lines (``[[account]]`` names), one key per rule:
``"0b0e:0307" = "office"`` (VID:PID), ``"serial:J1" = "home"``, ``"usb:1-2.3" = "home"`` (USB port path),
``"profile:yealink-p1k" = "office"``. The most specific rule wins (serial, USB path, VID:PID, profile);
a handset no rule names is on the default line (the first account). ``Bindings.line_for(...)`` answers.
Edit this module when the way the app opens a handset changes; the wiring is in usbphone/app.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
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
        self.match: dict[str, Any] = {}  # vid/pid/serial/port/profile, for the [device] line bindings
        if on_write is not None and hasattr(runner, "on_timed"):
            runner.on_timed = on_write  # cadence/blink steps a command started are its writes too

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
    handset = DeviceHandset(runner, _replay_caps(trace, dev, driver), dev.name or dev.id_text, "replay", on_write)
    handset.match = {"vid": dev.vid, "pid": dev.pid, "profile": profile.id if profile else ""}
    prof = profile.id if profile else "generic HID telephony (from its report descriptor)"
    return handset, transport, f"replay of {path}: {dev.name or dev.id_text} [{prof}], {transport.duration:.1f} s"


def _replay_caps(trace: Any, dev: Any, driver: Any) -> Capabilities:
    """What the replayed device can do. A driver that learns its model by asking (Yealink) knows it only after
    the replies, as a live device is probed before use: a scratch driver reads them from the trace first
    (a P4K trace was taken for a P1K: no hook switch, no speaker)."""
    from usbphone.drivers.probe import identifies, learn
    from usbphone.hid.open import select_driver

    if identifies(driver):
        _, scratch = select_driver(dev)
        if learn(scratch, [(r.t, r.data) for r in trace.inputs]):
            return scratch.capabilities()
    return driver.capabilities()


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


# --- lines: which handset belongs to which account ------------------------------------------------------------

_VIDPID = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_RANK = {"serial": 0, "usb": 1, "vidpid": 2, "profile": 3}  # most specific first


@dataclass(frozen=True)
class Rule:
    kind: str  # serial | usb | vidpid | profile
    value: str
    line: str


class Bindings:
    """The ``[device]`` table: handset selector -> line (account name). Empty = every handset on the default."""

    def __init__(self, table: dict[str, Any], accounts: list[str], where: str = "config") -> None:
        self.rules: list[Rule] = []
        for key, line in table.items():
            if not isinstance(line, str):
                raise UserError(f"{where}: [device] {key!r}: expected a line (account) name, got {line!r}",
                                exit_code=2)
            if line not in accounts:
                known = ", ".join(accounts) if accounts else "none: add an [[account]] with that name"
                raise UserError(f"{where}: [device] {key!r} = {line!r}: no [[account]] named {line!r} "
                                f"(accounts: {known})", exit_code=2)
            self.rules.append(_rule(key, line, where))
        self.rules.sort(key=lambda r: _RANK[r.kind])

    def line_for(self, *, vid: int | None = None, pid: int | None = None, serial: str = "", port: str = "",
                 profile: str = "") -> str:
        """The line a handset is bound to, or "" for the default line."""
        for r in self.rules:
            if ((r.kind == "serial" and serial and r.value == serial)
                    or (r.kind == "usb" and port and r.value == port)
                    or (r.kind == "vidpid" and vid is not None and r.value == f"{vid:04x}:{pid or 0:04x}")
                    or (r.kind == "profile" and profile and r.value == profile)):
                return r.line
        return ""


def _rule(key: str, line: str, where: str) -> Rule:
    if m := _VIDPID.match(key):
        return Rule("vidpid", f"{m.group(1)}:{m.group(2)}".lower(), line)
    kind, sep, value = key.partition(":")
    if sep and kind in ("serial", "usb", "profile") and value:
        return Rule(kind, value, line)
    raise UserError(f"{where}: [device] {key!r}: not a handset selector (use \"VVVV:PPPP\", \"serial:SN\", "
                    "\"usb:1-2.3\" or \"profile:ID\")", exit_code=2)

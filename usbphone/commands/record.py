"""`usbphone record [DEVICE] [-o FILE] [--duration S] [--count N] [--events]`: record a live device as a trace.

Writes hid-recorder's text format (``D:``, ``R:``, ``N:``, ``P:``, ``I:``, then one ``E:`` line per input report,
flushed as it arrives), so a user with an unsupported handset can send the file in, and it replays with
`usbphone replay` and hid-tools' hid-replay. DEVICE is /dev/hidrawN, /dev/bus/usb/BBB/DDD, /dev/ttyUSBn, VID:PID
or part of a name; without it the one attached handset is used.

- HID devices (hidraw) report by themselves: their reports are written as they come; with no usable
  descriptor they are still recorded (that is what an unsupported device needs), just not decoded.
- Vendor-protocol and serial phones (pyusb, serial) answer host requests: the profile's driver runs its
  polling loop as in `usbphone run`, and its writes are recorded too, as ``# O:`` lines with their transport
  (the format the committed vendor traces use). ``R: 0`` marks them; ``I:`` picks their profile on replay.

Stops on Ctrl-C, after ``--duration`` seconds or ``--count`` input reports. With ``--events`` the decoded
events are printed to stderr as they happen (check the mapping live).

Edit this module when recording changes; the format itself lives in usbphone/hid/trace.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

from usbphone.drivers.base import Driver, OutputReport
from usbphone.errors import UserError
from usbphone.hid.discovery import Found, discover, find_device
from usbphone.hid.hidraw import HidrawTransport
from usbphone.hid.open import open_transport, select_driver
from usbphone.hid.trace import Trace, TraceReport, report_line
from usbphone.hid.transport import Transport, TransportError
from usbphone.profiles.loader import load_profiles

HELP = "record a live device's reports as a trace (hid-recorder format) for replay or a bug report"

Opener = Callable[[Found, Driver | None], Transport]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device", metavar="DEVICE", nargs="?", help="device node, VID:PID or device name")
    parser.add_argument("-o", "--output", metavar="FILE", help="trace file to write (default: stdout)")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N input reports")
    parser.add_argument("--events", action="store_true", help="print decoded events to stderr while recording")


def _pick(target: str | None) -> Found:
    profiles = load_profiles()
    if target:
        found = find_device(target, profiles)
    else:
        candidates = [f for f in discover(profiles) if f.kind != "hidraw" or 0x0B in f.info.usage_pages or f.profile]
        if not candidates:
            raise UserError("no handset or telephony HID device attached; name one: usbphone record /dev/hidrawN", 2)
        if len(candidates) > 1:
            names = ", ".join(f"{f.info.path} ({f.info.name})" for f in candidates)
            raise UserError(f"several devices attached, name one: {names}", 2)
        found = candidates[0]
    if not found.may_open:
        raise UserError(f"{found.info.path}: {found.access}", 1)
    return found


def _driver(found: Found) -> Driver | None:
    """The device's driver; None for a HID device nothing can decode (it is recorded all the same)."""
    try:
        return select_driver(found.info, found.profile.id if found.profile else None,
                             [found.profile] if found.profile else [])[1]
    except (UserError, ValueError):
        if found.kind != "hidraw":
            raise
        return None


def _hidraw(found: Found, driver: Driver | None) -> Transport:
    return HidrawTransport.for_device(found.info)


def _profile_transport(found: Found, driver: Driver | None) -> Transport:
    if driver is None:
        raise UserError(f"{found.info.path}: no driver to talk to it")
    return open_transport(found.info, found.profile, driver)


class _Tape:
    """Writes each report as a trace line the moment it passes (E: in, # O: out)."""

    def __init__(self, transport: Transport, out: TextIO, start: float) -> None:
        self.transport, self.out, self.start = transport, out, start

    def t(self) -> float:
        return time.monotonic() - self.start

    def _line(self, report: TraceReport) -> None:
        self.out.write(report_line(report) + "\n")
        self.out.flush()

    def read(self, timeout: float) -> bytes | None:
        data = self.transport.read(timeout)
        if data:
            self._line(TraceReport(self.t(), bytes(data), "in"))
        return data

    def write(self, report: OutputReport) -> None:
        self._line(TraceReport(self.t(), report.data, "out", report.transport))
        self.transport.write(report)


def record(found: Found, out: TextIO, *, duration: float | None, count: int | None, show: bool,
           opener: Opener | None = None) -> int:
    """Record until stopped; returns the number of input reports written."""
    info = found.info
    header = Trace(name=info.name, phys=info.phys, bus=info.bus, vid=info.vid, pid=info.pid,
                   descriptor=info.descriptor, comments=[f"recorded by usbphone record from {info.path}"])
    out.write(header.dumps())
    out.flush()
    driver = _driver(found)
    # a device that answers host requests needs the driver's loop (start, poll, decode, stop) to talk at all
    loop = driver if found.kind != "hidraw" else None
    make = opener or (_hidraw if loop is None else _profile_transport)
    transport = make(found, driver)
    transport.open()
    tape = _Tape(transport, out, time.monotonic())
    written = 0
    try:
        for o in loop.start() if loop else []:
            tape.write(o)
        while count is None or written < count:
            left = None if duration is None else duration - tape.t()
            if left is not None and left <= 0:
                break
            for o in loop.poll(tape.t()) if loop else []:
                tape.write(o)
            waits = [w for w in (left, 1.0, loop.read_timeout(tape.t()) if loop else None) if w is not None]
            data = tape.read(max(0.0, min(waits)))
            written += 1 if data else 0
            if driver is not None and (show or loop):
                now = tape.t()
                for event in driver.decode(data, now) if data else driver.tick(now):
                    if show:
                        print(f"{now:8.3f}  {event}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            for o in loop.stop() if loop else []:
                tape.write(o)
        except TransportError:
            pass
        transport.close()
    return written


def main(args: argparse.Namespace) -> int:
    found = _pick(args.device)
    print(f"usbphone record: recording {found.info.path} ({found.info.name}); Ctrl-C stops", file=sys.stderr)
    if args.output:
        with open(args.output, "w") as out:
            n = record(found, out, duration=args.duration, count=args.count, show=args.events)
    else:
        n = record(found, sys.stdout, duration=args.duration, count=args.count, show=args.events)
    print(f"usbphone record: {n} reports" + (f" written to {args.output}" if args.output else ""), file=sys.stderr)
    return 0

"""`usbphone record [DEVICE] [-o FILE] [--duration S] [--count N]`: record a live device as a trace.

Writes hid-recorder's text format (``D:``, ``R:``, ``N:``, ``P:``, ``I:``, then one ``E:`` line per input report,
flushed as it arrives), so a user with an unsupported handset can send the file in, and it replays with
`usbphone replay` and hid-tools' hid-replay. DEVICE is /dev/hidrawN, VID:PID or part of a name; without it
the one attached telephony device is used. Stops on Ctrl-C, after ``--duration`` seconds or ``--count``
reports. With ``--events`` the decoded events are printed to stderr as they happen (check the mapping live).

Edit this module when recording changes; the format itself lives in usbphone/hid/trace.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from usbphone.errors import UserError
from usbphone.hid.discovery import Found, discover, find_device
from usbphone.hid.hidraw import HidrawTransport
from usbphone.hid.open import select_driver
from usbphone.hid.trace import Trace, format_time
from usbphone.profiles.loader import load_profiles

HELP = "record a live HID device's reports as a trace (hid-recorder format) for replay or a bug report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device", metavar="DEVICE", nargs="?", help="/dev/hidrawN, VID:PID or device name")
    parser.add_argument("-o", "--output", metavar="FILE", help="trace file to write (default: stdout)")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N reports")
    parser.add_argument("--events", action="store_true", help="print decoded events to stderr while recording")


def _pick(target: str | None) -> Found:
    profiles = load_profiles()
    if target:
        found = find_device(target, profiles)
    else:
        candidates = [f for f in discover(profiles) if f.kind == "hidraw" and (0x0B in f.info.usage_pages or f.profile)]
        if not candidates:
            raise UserError("no telephony HID device attached; name one: usbphone record /dev/hidrawN", 2)
        if len(candidates) > 1:
            names = ", ".join(f"{f.info.path} ({f.info.name})" for f in candidates)
            raise UserError(f"several devices attached, name one: {names}", 2)
        found = candidates[0]
    if found.kind != "hidraw":
        raise UserError(f"{found.info.path}: only hidraw devices can be recorded (this one is {found.kind})", 2)
    if not found.may_open:
        raise UserError(f"{found.info.path}: {found.access}", 1)
    return found


def record(found: Found, out: TextIO, *, duration: float | None, count: int | None, show: bool) -> int:
    """Record until stopped; returns the number of reports written."""
    info = found.info
    header = Trace(name=info.name, phys=info.phys, bus=info.bus, vid=info.vid, pid=info.pid,
                   descriptor=info.descriptor, comments=[f"recorded by usbphone record from {info.path}"])
    out.write(header.dumps())
    out.flush()
    driver = select_driver(info, found.profile.id if found.profile else None)[1] if show else None
    transport = HidrawTransport.for_device(info)
    transport.open()
    start = time.monotonic()
    written = 0
    try:
        while count is None or written < count:
            left = None if duration is None else duration - (time.monotonic() - start)
            if left is not None and left <= 0:
                break
            data = transport.read(left if left is not None else 1.0)
            if not data:
                continue
            t = time.monotonic() - start
            out.write(f"E: {format_time(t)} {len(data)} {data.hex(' ')}\n")
            out.flush()
            written += 1
            for event in driver.decode(data, t) if driver else []:
                print(f"{t:8.3f}  {event}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
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


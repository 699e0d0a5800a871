"""`usbphone send TARGET COMMAND… [--dry-run] [--json]`: encode one handset command and write (or print) it.

TARGET is a trace file (its descriptor, or for ``R: 0`` traces its ``I:`` line, defines the device; only with
``--dry-run``) or an attached device (``/dev/hidrawN``, ``VID:PID`` or part of its name). COMMAND is the
vocabulary of HandsetCommand.parse: ``ring on|off [cadence]``, ``led NAME on|off|blink``, ``lcd TEXT [LINE]``,
``lcd_clear``, ``tone X``, ``speaker on|off``, ``volume N``, ``ring_volume N``.
Output: one line per write (``<transport> <hex>``) or with ``--json`` one ``{"report", "transport"}`` object
per write, report id first when the device uses report ids. Polled drivers (Yealink, CM109) that queue a
command's writes and hand them out from ``poll()`` are flushed here, bounded.

Edit this module when the send CLI changes (the output format is a stable contract).
"""

from __future__ import annotations

import argparse
import json
import os

from usbphone.drivers.base import Driver, OutputReport
from usbphone.errors import UserError
from usbphone.events import HandsetCommand
from usbphone.hid.open import device_info_from_trace, open_transport, select_driver
from usbphone.hid.trace import load_trace
from usbphone.profiles.loader import load_profiles

HELP = "encode a handset command (ring, led, lcd, …) and write it to a device, or print it with --dry-run"
MAX_POLLS = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help="trace file, /dev/hidrawN, VID:PID or device name")
    parser.add_argument("words", metavar="COMMAND", nargs="+", help="e.g. led off_hook on | ring on | lcd 5551234")
    parser.add_argument("--profile", metavar="NAME", help="use this profile (devices/NAME) instead of matching")
    parser.add_argument("--dry-run", action="store_true", help="print the writes instead of sending them")
    parser.add_argument("--json", action="store_true", help="one JSON object per write")


def command_writes(driver: Driver, command: HandsetCommand, t: float = 0.0) -> list[OutputReport]:
    """The writes that carry ``command``: encode(), plus what a polled driver queues for it in poll()."""
    baseline = {o.data for o in driver.poll(t)}  # what the driver writes anyway (key-scan requests)
    outs = list(driver.encode(command))
    for _ in range(MAX_POLLS):
        t += max(driver.read_timeout(t) or 0.0, 0.001)
        extra = [o for o in driver.poll(t) if o.data not in baseline]
        if not extra:
            break
        outs += extra
    return outs


def _print(outs: list[OutputReport], as_json: bool) -> None:
    for out in outs:
        print(json.dumps(out.to_json()) if as_json else f"{out.transport} {out.data.hex(' ')}")


def main(args: argparse.Namespace) -> int:
    command = HandsetCommand.parse(args.words)
    if os.path.isfile(args.target):
        if not args.dry_run:
            raise UserError(f"{args.target} is a trace file: add --dry-run (only attached devices can be written)", 2)
        trace = load_trace(args.target)
        _, driver = select_driver(device_info_from_trace(trace), args.profile)
        outs = command_writes(driver, command)
    else:
        from usbphone.hid.discovery import find_device

        profiles = load_profiles()
        found = find_device(args.target, profiles)
        profile, driver = select_driver(found.info, args.profile, profiles)
        if args.dry_run:
            outs = command_writes(driver, command)
        else:
            transport = open_transport(found.info, profile, driver)
            transport.open()
            try:
                for out in driver.start():
                    transport.write(out)
                outs = command_writes(driver, command)
                for out in outs:
                    transport.write(out)
            finally:
                transport.close()
    if not outs:
        raise UserError(f"{driver.device.id_text} {driver.device.name!r} cannot do '{command}' (no such output)", 1)
    _print(outs, args.json)
    return 0

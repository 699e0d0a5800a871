"""`usbphone send TARGET COMMAND… [--dry-run] [--json]`: encode one handset command and write (or print) it.

TARGET is a trace file (its descriptor, or for ``R: 0`` traces its ``I:`` line, defines the device; only with
``--dry-run``) or an attached device (``/dev/hidrawN``, ``VID:PID`` or part of its name). COMMAND is the
vocabulary of HandsetCommand.parse: ``ring on|off [cadence]``, ``led NAME on|off|blink``, ``lcd TEXT [LINE]``,
``lcd_clear``, ``tone X``, ``speaker on|off``, ``volume N``, ``ring_volume N``.
Output: one line per write (``<transport> <hex>``) or with ``--json`` one ``{"report", "transport"}`` object
per write, report id first when the device uses report ids. Polled drivers (Yealink, CM109) that queue a
command's writes and hand them out from ``poll()`` are flushed here, bounded.

A trace's device is its header, as the issue defines it (``I:``/``R:`` and the profile they pick). An attached
phone whose driver learns its model by asking (Yealink: VERSION, and the packet size for G1/G2) is asked
first, also with ``--dry-run`` (queries only; nothing the command would do is written), so a B2K gets B2K
packets; if it does not answer, the profile's model is used and stderr says so.

Edit this module when the send CLI changes (the output format is a stable contract).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING

from usbphone.drivers.base import Driver, OutputReport
from usbphone.drivers.probe import converse, identifies, learn
from usbphone.errors import UserError
from usbphone.events import HandsetCommand
from usbphone.hid.open import device_info_from_trace, open_transport, select_driver
from usbphone.hid.trace import Trace, load_trace
from usbphone.hid.transport import Transport, TransportError
from usbphone.profiles.loader import load_profiles
from usbphone.profiles.schema import Profile

if TYPE_CHECKING:
    from usbphone.hid.discovery import Found

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


def _note(text: str) -> None:
    print(f"usbphone send: {text}", file=sys.stderr)


def _model(driver: Driver) -> str:
    notes = driver.capabilities().notes
    return notes[0] if notes else driver.name


def _trace_note(trace: Trace, driver: Driver, profile_name: str | None) -> None:
    """Say so when the replies a trace recorded name another model than its header gives the writes for."""
    if not identifies(driver):
        return
    _, scratch = select_driver(device_info_from_trace(trace), profile_name)
    if not learn(scratch, [(r.t, r.data) for r in trace.inputs]):
        return
    recorded, used = getattr(scratch, "active_model", ""), getattr(driver, "active_model", "")
    if recorded != used:
        _note(f"the trace's replies name {_model(scratch)}, but a trace's device is its header: these are the "
              f"writes for {used.upper() or _model(driver)} (a local profile with [options] model = "
              f"\"{recorded}\" picks the other)")


def _ask(driver: Driver, transport: Transport, dry_run: bool) -> None:
    """Talk to a phone until its driver knows the model (queries only); writes the driver's start otherwise."""
    try:
        if not converse(driver, transport):
            _note(f"the device did not say what it is within 1 s; going on as {_model(driver)}")
    except TransportError as exc:
        if not dry_run:
            raise
        _note(f"could not ask the device ({exc}); going on as {_model(driver)}")


def _live(found: Found, profile: Profile | None, driver: Driver, command: HandsetCommand,
          dry_run: bool) -> list[OutputReport]:
    """The writes for an attached device (written unless ``dry_run``), after asking a phone its model."""
    if dry_run and not (identifies(driver) and found.may_open):
        return command_writes(driver, command)
    transport = open_transport(found.info, profile, driver)
    try:
        transport.open()
    except TransportError as exc:
        if not dry_run:
            raise
        _note(f"could not ask the device ({exc}); going on as {_model(driver)}")
        return command_writes(driver, command)
    try:
        _ask(driver, transport, dry_run)
        outs = command_writes(driver, command, time.monotonic())
        for out in [] if dry_run else outs:
            transport.write(out)
    finally:
        transport.close()
    return outs


def main(args: argparse.Namespace) -> int:
    command = HandsetCommand.parse(args.words)
    if os.path.isfile(args.target):
        if not args.dry_run:
            raise UserError(f"{args.target} is a trace file: add --dry-run (only attached devices can be written)", 2)
        trace = load_trace(args.target)
        _, driver = select_driver(device_info_from_trace(trace), args.profile)
        _trace_note(trace, driver, args.profile)
        outs = command_writes(driver, command)
    else:
        from usbphone.hid.discovery import find_device

        profiles = load_profiles()
        found = find_device(args.target, profiles)
        profile, driver = select_driver(found.info, args.profile, profiles)
        outs = _live(found, profile, driver, command, args.dry_run)
    if not outs:
        raise UserError(f"{driver.device.id_text} {driver.device.name!r} cannot do '{command}' (no such output)", 1)
    _print(outs, args.json)
    return 0

"""`usbphone replay TRACE [--profile NAME] [--json] [--realtime]`: print the events a recorded trace decodes to.

The trace's header picks the profile exactly as a live device's would (or ``--profile`` forces one); its
``E:`` reports go through a ReplayTransport and the same DeviceRunner and driver a live device uses.
Output: one ``kind value`` line per event, or with ``--json`` one ``{"t", "event", "value"}`` object per line
(``t`` = seconds from trace start). A bad trace is one error line naming the line, exit 2.

Edit this module when the replay CLI changes (the output format is a stable contract).
"""

from __future__ import annotations

import argparse
import json
import sys

from usbphone.errors import UserError
from usbphone.events import HandsetEvent
from usbphone.hid.open import device_info_from_trace, select_driver
from usbphone.hid.replay import ReplayTransport
from usbphone.hid.runner import DeviceRunner
from usbphone.hid.trace import load_trace

HELP = "decode a recorded trace (hid-recorder format) and print its handset events"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", metavar="TRACE", help="hid-recorder trace file (.hid)")
    parser.add_argument("--profile", metavar="NAME", help="use this profile (devices/NAME) instead of matching")
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.add_argument("--realtime", action="store_true", help="honour the trace's timing instead of going fast")


def replay_events(path: str, profile: str | None = None, realtime: bool = False) -> tuple[list[HandsetEvent], str]:
    """Decode a trace through the live path; returns (events, note about the device or "")."""
    trace = load_trace(path)
    dev = device_info_from_trace(trace)
    prof, driver = select_driver(dev, profile)
    note = ""
    caps = driver.capabilities()
    if not caps.telephony:
        note = f"{dev.id_text} {dev.name!r}: no telephony controls (audio only); only consumer keys decode"
    transport = ReplayTransport(trace, fast=not realtime)
    events: list[HandsetEvent] = []
    runner = DeviceRunner(driver, transport, events.append, clock=transport.clock, name=prof.id if prof else "")
    runner.start()
    bound = 30.0 + (transport.duration * 1.5 if realtime else len(trace.inputs) * 0.01)
    finished = transport.drained.wait(bound)
    runner.stop()  # a driver failure already arrived as a `device error` event
    if not finished:
        raise UserError(f"{path}: replay did not finish within {bound:.0f} s ({transport.remaining} reports left)")
    return events, note


def main(args: argparse.Namespace) -> int:
    events, note = replay_events(args.trace, args.profile, args.realtime)
    if note:
        print(f"usbphone replay: {note}", file=sys.stderr)
    for event in events:
        if args.json:
            print(json.dumps(event.to_json()))
        else:
            print(f"{event}" + (f" ({event.message})" if event.message else ""))
    return 0

"""`usbphone call URI_OR_NUMBER`: place one headless call, optionally send DTMF, hang up; exit 0 if it connected.

Useful to test an account or a peer without a handset. Null audio unless --audio-device names a sound
device (then the audio bridge from usbphone/sip/audio.py carries the call). Prints one status line per
call event on stdout. Edit when the call options change.
"""

from __future__ import annotations

import argparse
import queue
import time

from usbphone.commands.sipcli import add_common, audio_hook, default_bind, open_core, print_event
from usbphone.events import CallCommand, CallEvent

HELP = "place one headless call (exit 0 when it connected)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="URI_OR_NUMBER", help="sip: URI, user@host, host[:port] or a number")
    add_common(p)
    p.add_argument("--duration", type=float, default=5.0, metavar="S",
                   help="seconds to stay connected before hanging up (default 5)")
    p.add_argument("--dtmf", default="", metavar="DIGITS", help="DTMF digits to send once connected")
    p.add_argument("--audio-device", default="", metavar="NAME",
                   help="sound device for the call's audio (default: none, silence)")
    p.add_argument("--answer-timeout", type=float, default=30.0, metavar="S",
                   help="give up when not answered within S seconds (default 30)")
    p.add_argument("--account", default="", metavar="NAME", help="account to call from (default: the first)")


def main(args: argparse.Namespace) -> int:
    from usbphone.config import load_config

    config = load_config(args.config)
    device = args.audio_device or ""
    hook = audio_hook(device, config) if device else None
    bind = args.bind or default_bind(config, args.target)
    events: queue.Queue[CallEvent] = queue.Queue()
    with open_core(config, events.put, bind, hook) as core:
        call_id = core.execute(CallCommand("dial", target=args.target, value=args.account))
        print(f"calling {core.dial_uri(args.target, args.account)} from {core.local_address}", flush=True)
        return _run_call(core, events, call_id, args)


def _run_call(core: object, events: queue.Queue[CallEvent], call_id: int | None, args: argparse.Namespace) -> int:
    connected_at = None
    hangup_at = time.monotonic() + args.answer_timeout
    hung_up = False
    while True:
        try:
            ev = events.get(timeout=max(0.0, hangup_at - time.monotonic()) if not hung_up else 5.0)
        except queue.Empty:
            if hung_up:
                print("no answer to hang-up; giving up", flush=True)
                return 0 if connected_at else 1
            if connected_at is None:
                print(f"not answered within {args.answer_timeout:g} s", flush=True)
            core.execute(CallCommand("hangup", call_id=call_id))  # type: ignore[attr-defined]
            hung_up = True
            continue
        print_event(ev)
        if ev.call_id != call_id:
            continue
        if ev.kind == "connected" and connected_at is None:
            connected_at = time.monotonic()
            hangup_at = connected_at + args.duration
            if args.dtmf:
                core.execute(CallCommand("dtmf", call_id=call_id, digits=args.dtmf))  # type: ignore[attr-defined]
        elif ev.kind == "ended":
            return 0 if connected_at is not None else 1

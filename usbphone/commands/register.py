"""`usbphone register`: register the configured account(s) once; exit 0 on 2xx, 1 with the server's reason.

Useful to check credentials. Unregisters before exiting. Edit when registration checks change.
"""

from __future__ import annotations

import argparse
import queue
import time

from usbphone.commands.sipcli import add_common, open_core
from usbphone.errors import UserError
from usbphone.events import CallEvent

HELP = "register the configured SIP account(s) and report the result (exit 0 on success)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--timeout", type=float, default=15.0, metavar="S",
                   help="give up when the registrar has not answered within S seconds (default 15)")


def main(args: argparse.Namespace) -> int:
    from usbphone.config import load_config

    config = load_config(args.config)
    names = [a.name for a in config.accounts if a.registers]
    if not names:
        where = config.path or "the default config"
        raise UserError(f"no account with a registrar in {where} (add [[account]] with registrar = \"sip:...\")")
    events: queue.Queue[CallEvent] = queue.Queue()
    results: dict[str, CallEvent] = {}
    with open_core(config, events.put, args.bind) as core:
        print(f"registering {', '.join(names)} from {core.local_address}", flush=True)
        deadline = time.monotonic() + args.timeout
        while len(results) < len(names):
            try:
                ev = events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            account = ev.extra.get("account", "")
            if ev.kind == "registration" and account in names and account not in results:
                results[account] = ev
    ok = True
    for name in names:
        ev = results.get(name)
        if ev is None:
            print(f"{name}: no answer from the registrar within {args.timeout:g} s", flush=True)
            ok = False
        elif ev.value == "registered":
            print(f"{name}: registered ({ev.code} {ev.reason}, expires {ev.extra.get('expires')} s)", flush=True)
        else:
            print(f"{name}: registration failed: {ev.code} {ev.reason}", flush=True)
            ok = False
    return 0 if ok else 1

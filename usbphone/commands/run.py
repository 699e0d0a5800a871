"""`usbphone run [--config FILE] [--bind HOST[:PORT]] [--replay TRACE]... [--log-json FILE]`: the phone appliance.

With no config file it runs on built-in defaults: no registrar (direct SIP on the bind address) and the echo
test on 600. With no USB handset it offers the terminal as a virtual handset. ``--replay`` makes a recorded
trace the handset (timing honoured) and exits a few seconds after the trace ends. Ctrl-C or SIGTERM hangs up,
unregisters and exits 0. Edit this module for CLI options; the wiring is usbphone/app.py.
"""

from __future__ import annotations

import argparse
import logging

from usbphone.app import App
from usbphone.config import load_config

HELP = "run the phone: handset + SIP account as one desk phone (echo test on 600 with no config)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (TOML); default: ~/.config/usbphone/config.toml, "
                        "/etc/usbphone/config.toml, else built-in defaults")
    parser.add_argument("--bind", metavar="HOST[:PORT]", help="SIP address to listen on (port 0 = any free port)")
    parser.add_argument("--replay", metavar="TRACE", action="append",
                        help="use a recorded trace (hid-recorder format) as a handset; repeat for several")
    parser.add_argument("--log-json", metavar="FILE", help="append every event and command as JSON lines to FILE")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log details to stderr (-vv: also debug, with tracebacks of internal errors)")


def main(args: argparse.Namespace) -> int:
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level,
                        format="usbphone: %(name)s: %(message)s")
    config = load_config(args.config)
    return App(config, bind=args.bind, replay=args.replay, log_json=args.log_json).run()

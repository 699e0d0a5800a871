"""The `usbphone` command line: one subcommand per module in usbphone/commands/.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int``.
Modules load lazily so `usbphone replay` never imports pjsua2. Add a line to COMMANDS for a new command.
Errors a user can fix (UserError, ProfileError, TraceError, VocabularyError) become one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from usbphone import __version__
from usbphone.errors import UserError
from usbphone.events import VocabularyError
from usbphone.hid.trace import TraceError
from usbphone.profiles.schema import ProfileError

COMMANDS: dict[str, str] = {
    "run": "usbphone.commands.run",
    "devices": "usbphone.commands.devices",
    "replay": "usbphone.commands.replay",
    "send": "usbphone.commands.send",
    "record": "usbphone.commands.record",
    "call": "usbphone.commands.call",
    "register": "usbphone.commands.register",
    "udev-rules": "usbphone.commands.udev_rules",
    "install": "usbphone.commands.install",
    "uninstall": "usbphone.commands.uninstall",
    "doctor": "usbphone.commands.doctor",
    "bench": "usbphone.commands.bench",
}


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(COMMANDS[name])
    except ModuleNotFoundError as exc:
        if exc.name == COMMANDS[name]:
            return None  # not written yet
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="usbphone", description="USB handset and headset phone appliance")
    parser.add_argument("--version", action="version", version=f"usbphone {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, add_help=False)
            continue
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(wanted)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except (TraceError, ProfileError, VocabularyError) as exc:
        print(f"usbphone {args.command}: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"usbphone {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `usbphone replay … | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

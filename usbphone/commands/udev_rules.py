"""`usbphone udev-rules`: print the udev rules generated from the device profiles (usbphone.udev).

Built-in profiles only, so the output is what udev/70-usbphone.rules must contain; ``--include-local``
adds the profiles in /etc/usbphone/devices, ~/.config/usbphone/devices and $USBPHONE_DEVICES.
Edit this module only for the command's options; the rule layout lives in usbphone/udev.py.
"""

from __future__ import annotations

import argparse
import sys

from usbphone.udev import builtin_rules

HELP = "print udev rules for every known handset (built-in profiles; --include-local adds local ones)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-local", action="store_true",
        help="also cover profiles in /etc/usbphone/devices, ~/.config/usbphone/devices, $USBPHONE_DEVICES",
    )


def main(args: argparse.Namespace) -> int:
    sys.stdout.write(builtin_rules(include_local=args.include_local))
    return 0

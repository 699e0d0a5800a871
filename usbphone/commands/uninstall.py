"""`usbphone uninstall`: remove what `usbphone install` put in place (same --prefix/--destdir).

The administrator's config.toml and sip-password stay unless ``--purge``; the usbphone user and group stay
(sysusers.d convention: ids are never recycled). Edit this module together with install.py.
"""

from __future__ import annotations

import argparse
import os

from usbphone.commands.install import Layout, add_common_arguments, reload_system, staged
from usbphone.errors import UserError

HELP = "remove the installed udev rules, systemd units and config skeleton (--purge: also the config)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--purge", action="store_true", help="also remove config.toml and sip-password")


def main(args: argparse.Namespace) -> int:
    layout = Layout.for_prefix(args.prefix)
    if not args.destdir and os.geteuid() != 0:
        raise UserError("uninstalling from the system needs root: run `sudo usbphone uninstall`")
    paths = layout.managed() + (layout.user_data() if args.purge else [])
    removed = 0
    for path in paths:
        target = staged(args.destdir, path)
        try:
            target.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UserError(f"cannot remove {target}: {exc.strerror}") from None
        print(f"removed {target}")
        removed += 1
    config_dir = staged(args.destdir, layout.config.parent)
    if args.purge and config_dir.is_dir() and not any(config_dir.iterdir()):
        config_dir.rmdir()
    if not args.purge:
        kept = [str(staged(args.destdir, p)) for p in layout.user_data() if staged(args.destdir, p).exists()]
        if kept:
            print(f"kept {', '.join(kept)} (--purge removes them)")
    if removed and not (args.destdir or args.no_reload):
        reload_system(layout, sysusers=False)
    print("nothing to remove" if not removed else f"removed {removed} file(s)")
    return 0

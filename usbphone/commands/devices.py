"""`usbphone devices [--all] [--json]`: list attached handsets/headsets, their profile, capabilities and access.

For each device: node, VID:PID, name, the matched profile (or "generic hid_telephony" when the descriptor
declares page 0x0B, or "no telephony controls"), capabilities, transport, and whether the current user may
open it (and why not). Without ``--all`` HID devices with neither telephony usages nor a profile are hidden.
A machine with no handset prints a clear line and exits 0.

Edit this module when the listing changes.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from usbphone.errors import UserError
from usbphone.hid.discovery import Found, discover
from usbphone.hid.open import select_driver, transport_name
from usbphone.profiles.loader import load_profiles

HELP = "list attached handsets and headsets with profile, capabilities, transport and permission"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="also list HID devices without telephony controls")
    parser.add_argument("--json", action="store_true", help="one JSON object per device")


def describe(found: Found) -> dict[str, Any]:
    info = found.info
    row: dict[str, Any] = {
        "path": info.path,
        "id": info.id_text,
        "name": info.name,
        "interface": info.interface,
        "profile": found.profile.id if found.profile else None,
        "transport": transport_name(found.profile) if found.kind != "hidraw" or found.profile else "hidraw",
        "may_open": found.may_open,
        "access": found.access,
    }
    try:
        known = [found.profile] if found.profile else []
        _, driver = select_driver(info, found.profile.id if found.profile else None, known)
        caps = driver.capabilities()
        row["driver"] = driver.name
        row["telephony"] = caps.telephony
        row["capabilities"] = caps.summary()
    except (UserError, ValueError, ImportError) as exc:
        row["driver"] = None
        row["telephony"] = False
        row["capabilities"] = f"unusable: {exc}"
    return row


def main(args: argparse.Namespace) -> int:
    profiles = load_profiles()
    rows = [describe(f) for f in discover(profiles)]
    if not args.all:
        rows = [r for r in rows if r["telephony"] or r["profile"]]
    if not rows:
        print("no USB handset or telephony headset attached" + ("" if args.all else " (try --all)"))
        return 0
    for r in rows:
        if args.json:
            print(json.dumps(r))
            continue
        profile = r["profile"] or (f"generic {r['driver']}" if r["telephony"] else "none")
        access = "ok" if r["may_open"] else f"NO: {r['access']}"
        print(f"{r['path']}  {r['id']}  {r['name']}")
        print(f"    profile: {profile}   transport: {r['transport']}   access: {access}")
        print(f"    capabilities: {r['capabilities']}")
    return 0

"""`usbphone devices [--all] [--json] [--no-probe]`: list attached handsets/headsets, profile, capabilities, access.

For each device: node, VID:PID, name, the matched profile (or "generic hid_telephony" when the descriptor
declares page 0x0B, or "no telephony controls"), capabilities, transport, and whether the current user may
open it (and why not). Devices whose driver can ask the device who it is (Yealink: the model from VERSION,
the serial from INIT) are opened briefly when the user may open them (usbphone.drivers.probe, at most
``PROBE_LIMIT`` seconds each; ``--no-probe`` skips it); what they say, or why they could not be asked, is
shown as notes. Without ``--all`` HID devices with neither telephony usages nor a profile are hidden.
A machine with no handset prints a clear line and exits 0.

Edit this module when the listing changes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from usbphone.drivers.base import Driver
from usbphone.drivers.probe import probe
from usbphone.errors import UserError
from usbphone.hid.discovery import Found, discover
from usbphone.hid.open import open_transport, select_driver, transport_name
from usbphone.hid.transport import Transport
from usbphone.profiles.loader import load_profiles

HELP = "list attached handsets and headsets with profile, capabilities, transport and permission"
PROBE_TIMEOUT = 1.0  # seconds the device has to answer (a Yealink answers VERSION and INIT within ~50 ms)
PROBE_LIMIT = 3.0  # seconds per device in all, opening included

Opener = Callable[[Found, Driver], Transport]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="also list HID devices without telephony controls")
    parser.add_argument("--json", action="store_true", help="one JSON object per device")
    parser.add_argument("--no-probe", action="store_true", help="do not open devices to ask their model")


def _open(found: Found, driver: Driver) -> Transport:
    return open_transport(found.info, found.profile, driver)


def describe(found: Found, *, probe_device: bool = True, opener: Opener = _open) -> dict[str, Any]:
    """One listing row; ``opener`` makes the (unopened) transport a probe talks through."""
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
        "notes": [],
    }
    try:
        known = [found.profile] if found.profile else []
        _, driver = select_driver(info, found.profile.id if found.profile else None, known)
    except (UserError, ValueError, ImportError) as exc:
        row.update(driver=None, telephony=False, capabilities=f"unusable: {exc}")
        return row
    probed: list[str] = []
    if probe_device and found.may_open and hasattr(driver, "identified"):
        probed = probe(driver, lambda: opener(found, driver), PROBE_TIMEOUT, PROBE_LIMIT)
    caps = driver.capabilities()
    row.update(driver=driver.name, telephony=caps.telephony, capabilities=caps.summary())
    row["notes"] = list(dict.fromkeys(caps.notes + probed))  # what the driver knows, then what the probe said
    return row


def main(args: argparse.Namespace) -> int:
    profiles = load_profiles()
    rows = [describe(f, probe_device=not args.no_probe) for f in discover(profiles)]
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
        if r["notes"]:
            print(f"    notes: {'; '.join(r['notes'])}")
    return 0

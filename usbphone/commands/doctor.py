"""`usbphone doctor [--config FILE] [--events FILE] [--json]`: find what stops the phone working, and the fix.

Checks, each printed as ok / warning / PROBLEM with a ``fix:`` line: the device profiles load; the udev rules
are installed and current; for every attached handset: its node can be opened (and the rule applied), USB
autosuspend is off, no kernel input driver (yealink, cm109) holds a vendor-protocol phone, its own USB sound
card exists and can be opened; the config file is valid and, with ``--config``, each account registers
(through `usbphone register`); with ``--events``, the audio bridge's recent xruns, callback errors and faults
from the appliance's event log (usbphone/audio/health.py). Exit 0 when there is no PROBLEM, 1 otherwise
(warnings do not fail).

Edit this module to add a check; the facts it checks come from discovery, the udev generator and config.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from usbphone.errors import UserError
from usbphone.profiles.schema import Profile, ProfileError
from usbphone.udev import GROUP, RULES_NAME, builtin_rules

HELP = "check device permissions, kernel drivers, audio, udev rules and registration; print the fix for each problem"

RULES_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d")
# Kernel input drivers that claim vendor-protocol phones (hid_ignore_list keeps usbhid off them).
# source: ../shared/reliability-bar.md FM6 (linux drivers/hid/hid-quirks.c, drivers/input/misc/{yealink,cm109}.c)
INPUT_DRIVERS = {"yealink", "cm109", "usbhid"}
CREDENTIALS = "/run/credentials/"  # where systemd puts LoadCredential= files for a service
TRIGGER = "sudo udevadm trigger --action=change --subsystem-match=hidraw --subsystem-match=usb --subsystem-match=tty"


@dataclass
class Check:
    level: str  # ok | warning | problem
    what: str
    detail: str
    fix: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="also validate this config and register its accounts")
    parser.add_argument("--json", action="store_true", help="one JSON object per check")
    parser.add_argument("--timeout", type=float, default=15.0, metavar="S", help="registration timeout (default 15)")
    parser.add_argument("--events", metavar="FILE", help="the event log `usbphone run --log-json` writes: report the "
                        "last sound streams' xruns, callback errors and audio faults")


# --- udev rules -----------------------------------------------------------------------------------------

def check_rules(checks: list[Check]) -> Path | None:
    installed = [Path(d) / RULES_NAME for d in RULES_DIRS if (Path(d) / RULES_NAME).is_file()]
    if not installed:
        checks.append(Check("warning", "udev rules", f"{RULES_NAME} is not installed (looked in "
                            f"{', '.join(RULES_DIRS)}); handsets are then root-only and nothing starts on plug-in",
                            "sudo usbphone install"))
        return None
    text = installed[0].read_text(errors="replace")
    current = {builtin_rules(include_local=False)}
    try:
        current.add(builtin_rules(include_local=True))
    except ProfileError:
        pass
    if text not in current:
        checks.append(Check("warning", "udev rules", f"{installed[0]} differs from what `usbphone udev-rules` "
                            "generates (a newer usbphone or new profiles)", "sudo usbphone install"))
    else:
        checks.append(Check("ok", "udev rules", f"{installed[0]} is current"))
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        checks.append(Check("warning", "udev rules", f"group {GROUP!r} does not exist, so the rules' GROUP= is "
                            "ignored and the system service cannot open handsets",
                            "sudo systemd-sysusers  (or re-run sudo usbphone install)"))
    return installed[0]


# --- devices -----------------------------------------------------------------------------------------------

def _udev_index(context: Any) -> dict[str, Any]:
    """device node -> pyudev device, for the nodes discovery reports."""
    out: dict[str, Any] = {}
    for subsystem in ("hidraw", "usb", "tty"):
        for dev in context.list_devices(subsystem=subsystem):
            if dev.device_node:
                out[dev.device_node] = dev
    return out


def _attr(dev: Any, name: str) -> str:
    try:
        value = dev.attributes.get(name)
    except (KeyError, OSError):
        return ""
    if value is None:
        return ""
    return value.decode(errors="replace").strip() if isinstance(value, bytes) else str(value).strip()


def _access_fix(node: str, rules: Path | None) -> str:
    if rules is None:
        return f"sudo usbphone install   (then unplug and replug the handset, or: {TRIGGER})"
    try:
        group = grp.getgrgid(os.stat(node).st_gid).gr_name
    except (KeyError, OSError):
        group = ""
    if group == GROUP:
        return (f"sudo usermod -aG {GROUP} $USER and log in again (or run it as the usbphone service, or from "
                "the desktop session that owns the seat)")
    return f"the rule has not been applied to this node: {TRIGGER}"


def check_device(found: Any, udev_dev: Any, rules: Path | None, checks: list[Check]) -> None:
    info = found.info
    what = f"{info.path} {info.name or '?'} ({info.id_text})"
    profile = found.profile.id if found.profile else "generic HID telephony"
    if found.may_open:
        checks.append(Check("ok", what, f"profile {profile}; can open {info.path}"))
    else:
        checks.append(Check("problem", what, f"cannot open {info.path}: {found.access}",
                            _access_fix(info.path, rules)))
    if udev_dev is None:
        return
    if rules is not None and not udev_dev.properties.get("USBPHONE_PROFILE"):
        checks.append(Check("warning", what, "the usbphone udev rule did not tag this node (no USBPHONE_PROFILE)",
                            f"{TRIGGER}   (or unplug and replug)"))
    usb = udev_dev if udev_dev.device_type == "usb_device" else udev_dev.find_parent("usb", "usb_device")
    if usb is not None and _attr(usb, "power/control") == "auto":
        fix = f"sudo usbphone install; or now: echo on | sudo tee {usb.sys_path}/power/control"
        checks.append(Check("warning", what, "USB autosuspend is on (a suspended handset drops its first key press)",
                            fix))
    if found.kind == "usb" and usb is not None:
        check_kernel_driver(found, usb, what, checks)
    if found.kind in ("hidraw", "usb"):
        check_audio(usb, what, checks)


def check_kernel_driver(found: Any, usb: Any, what: str, checks: list[Check]) -> None:
    bound = sorted({child.driver for child in usb.children
                    if child.device_type == "usb_interface" and child.driver in INPUT_DRIVERS})
    if not bound:
        checks.append(Check("ok", what, "no kernel input driver bound"))
        return
    names = ", ".join(bound)
    fix = (f"printf 'blacklist %s\\n' {' '.join(bound)} | sudo tee /etc/modprobe.d/usbphone-blacklist.conf "
           f"&& sudo modprobe -r {' '.join(bound)}")
    if found.may_open:
        checks.append(Check("warning", what, f"kernel driver {names} is bound: usbphone detaches it when it opens "
                            "the phone, but until then its keys type into the console", fix))
    else:
        checks.append(Check("problem", what, f"kernel driver {names} is bound and usbphone cannot open the USB "
                            "device to detach it", fix))


def check_audio(usb: Any, what: str, checks: list[Check]) -> None:
    from usbphone.audio.devices import cards_of_usb_device

    if usb is None:
        checks.append(Check("warning", what, "no USB parent (uhid/Bluetooth): no sound card of its own; audio goes "
                            "to [audio] device in the config", "set [audio] device = \"...\" in the config"))
        return
    cards = cards_of_usb_device(usb.sys_path)
    if not cards:
        checks.append(Check("problem", what, "no sound card belongs to this USB device (its USB audio interface "
                            "is not bound)", "sudo modprobe snd-usb-audio; then `aplay -l` lists the handset"))
        return
    card = cards[0]
    nodes = sorted(Path("/dev/snd").glob(f"pcmC{card.index}D*")) + [Path(f"/dev/snd/controlC{card.index}")]
    denied = [str(n) for n in nodes if n.exists() and not os.access(n, os.R_OK | os.W_OK)]
    if denied:
        checks.append(Check("problem", what, f"sound card {card.index} ({card.id}): cannot open {', '.join(denied)}",
                            "sudo usermod -aG audio $USER and log in again (the system service has audio already)"))
    else:
        checks.append(Check("ok", what, f"sound card {card.index} ({card.id}) {card.hw}"))


def check_devices(profiles: list[Profile], rules: Path | None, checks: list[Check]) -> None:
    try:
        import pyudev

        from usbphone.hid.discovery import discover

        context = pyudev.Context()
        devices = [f for f in discover(profiles, context) if f.profile or 0x0B in f.info.usage_pages]
        index = _udev_index(context)
    except (ImportError, OSError) as exc:
        checks.append(Check("problem", "devices", f"cannot enumerate devices through udev: {exc}",
                            "run on a Linux host with /sys and udev (not inside a minimal container)"))
        return
    if not devices:
        checks.append(Check("warning", "devices", "no USB handset or telephony headset attached",
                            "plug one in; `usbphone devices --all` lists every HID device and why it is not used"))
    for found in devices:
        check_device(found, index.get(found.info.path), rules, checks)


# --- config and registration -------------------------------------------------------------------------------

def check_config(path: str | None, timeout: float, checks: list[Check]) -> None:
    from usbphone.config import load_config

    try:
        config = load_config(path)
    except UserError as exc:
        if CREDENTIALS in str(exc):  # the service's password credential exists only inside usbphone.service
            checks.append(Check("warning", "config", f"{exc} (it exists only inside the running service)",
                                "check registration in the service's log: journalctl -u usbphone.service"))
            return
        checks.append(Check("problem", "config", str(exc), "correct the file (see /etc/usbphone/config.toml.example)"))
        return
    except OSError as exc:  # a default config path this user may not look into
        checks.append(Check("problem", "config", f"cannot read {exc.filename}: {exc.strerror}",
                            "pass --config FILE, or fix that directory's permissions"))
        return
    where = config.path or "built-in defaults (no config file)"
    registering = [a for a in config.accounts if a.registers]
    checks.append(Check("ok", "config", f"{where}: {len(config.accounts)} account(s)"
                        + ("" if registering else "; no registrar: direct SIP calls")))
    if path is None or not registering:
        return
    host = registering[0].registrar.split(":", 1)[-1].split(";")[0].rsplit(":", 1)[0]
    bind = "127.0.0.1:0" if host in ("127.0.0.1", "localhost", "[::1]") else "0.0.0.0:0"
    cmd = [sys.executable, "-m", "usbphone.cli", "register", "--config", path, "--bind", bind,
           "--timeout", str(timeout)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        checks.append(Check("problem", "registration", f"no answer within {timeout + 30:.0f} s",
                            "check the registrar address and the network"))
        return
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {proc.returncode}"
    if proc.returncode == 0:
        checks.append(Check("ok", "registration", last))
    else:
        checks.append(Check("problem", "registration", last,
                            f"check user, password and registrar in {path}; try `usbphone register --config {path}`"))


# --- the command -----------------------------------------------------------------------------------------

def run_checks(config: str | None, timeout: float, events: str | None = None) -> list[Check]:
    from usbphone.profiles import load_profiles

    checks: list[Check] = []
    try:
        profiles = load_profiles()
        layers = sorted({p.layer for p in profiles})
        checks.append(Check("ok", "profiles", f"{len(profiles)} loaded ({', '.join(layers)})"))
    except ProfileError as exc:
        checks.append(Check("problem", "profiles", str(exc), "correct or remove that profile file"))
        profiles = []
    except OSError as exc:  # e.g. a profile directory on the search path that this user may not enter
        checks.append(Check("problem", "profiles", f"cannot read {exc.filename}: {exc.strerror}",
                            "fix that directory's permissions, or set HOME/XDG_CONFIG_HOME for this user"))
        profiles = []
    rules = check_rules(checks)
    check_devices(profiles, rules, checks)
    check_config(config, timeout, checks)
    if events:
        from usbphone.audio.health import summarize

        checks += [Check(f.level, "audio health", f.detail, f.fix) for f in summarize(events)]
    return checks


def main(args: argparse.Namespace) -> int:
    checks = run_checks(args.config, args.timeout, args.events)
    for c in checks:
        if args.json:
            print(json.dumps(asdict(c)))
            continue
        label = {"ok": "ok", "warning": "warning", "problem": "PROBLEM"}[c.level]
        print(f"{label:8} {c.what}: {c.detail}")
        if c.fix and c.level != "ok":
            print(f"{'':8} fix: {c.fix}")
    problems = sum(c.level == "problem" for c in checks)
    warnings = sum(c.level == "warning" for c in checks)
    if not args.json:
        print(f"{problems} problem(s), {warnings} warning(s)")
    return 1 if problems else 0

"""Load devices/*/profile.toml from the built-in tree and local overrides; pick the profile for a device.

Search order (first wins for a given profile id): $USBPHONE_DEVICES (colon-separated), the user's
~/.config/usbphone/devices, /etc/usbphone/devices, then the built-in devices/ tree. A local profile with
the same directory name as a built-in one replaces it; a local profile matching the same device as a
built-in one beats it. Two profiles in one layer that claim the same device are a conflict.

Edit this module when the search path or matching precedence changes.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any

from usbphone.profiles.schema import (
    TRANSPORTS,
    DeviceInfo,
    MatchRule,
    Profile,
    ProfileError,
    parse_match,
)

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "devices"
SYSTEM_DIR = Path("/etc/usbphone/devices")
INSTALLED_DIR = Path("/usr/share/usbphone/devices")
LAYER_RANK = {"user": 0, "system": 1, "built-in": 2}
log = logging.getLogger(__name__)


def search_path(include_local: bool = True) -> list[tuple[str, Path]]:
    dirs: list[tuple[str, Path]] = []
    if include_local:
        env = os.environ.get("USBPHONE_DEVICES", "")
        dirs += [("user", Path(p)) for p in env.split(":") if p]
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        dirs.append(("user", config_home / "usbphone" / "devices"))
        dirs.append(("system", SYSTEM_DIR))
    dirs.append(("built-in", BUILTIN_DIR if BUILTIN_DIR.is_dir() else INSTALLED_DIR))
    return dirs


def _validate_driver(profile: Profile, where: str) -> None:
    from usbphone.drivers import DRIVERS, driver_class

    if profile.driver not in DRIVERS:
        known = ", ".join(sorted(DRIVERS))
        raise ProfileError(f"{where}: field 'device.driver' = {profile.driver!r} is not one of {known}")
    cls = driver_class(profile.driver)
    cls.validate_options(profile.options, f"{where} [options]")
    cls.validate_quirks(profile.quirks, f"{where} [quirks]")


def parse_profile(data: dict[str, Any], pid: str, path: str, layer: str = "built-in") -> Profile:
    """Build and validate one profile from parsed TOML."""
    dev = data.get("device")
    if not isinstance(dev, dict):
        raise ProfileError(f"{path}: missing [device] table")
    for key in ("name", "driver", "transport"):
        if not isinstance(dev.get(key), str) or not dev[key]:
            raise ProfileError(f"{path}: field 'device.{key}' is required (a string)")
    if dev["transport"] not in TRANSPORTS:
        raise ProfileError(f"{path}: field 'device.transport' must be one of {', '.join(sorted(TRANSPORTS))}")
    unknown = set(data) - {"device", "match", "options", "quirks"}
    if unknown:
        raise ProfileError(f"{path}: unknown table [{sorted(unknown)[0]}]")
    rules = data.get("match")
    if not isinstance(rules, list) or not rules:
        raise ProfileError(f"{path}: at least one [[match]] table is required")
    matches = tuple(parse_match(r, f"{path} [[match]] #{i + 1}") for i, r in enumerate(rules))
    for key in ("options", "quirks"):
        if not isinstance(data.get(key, {}), dict):
            raise ProfileError(f"{path}: [{key}] must be a table")
    profile = Profile(
        id=pid,
        name=dev["name"],
        driver=dev["driver"],
        transport=dev["transport"],
        matches=matches,
        options=dict(data.get("options", {})),
        quirks=dict(data.get("quirks", {})),
        source=str(dev.get("source", "")),
        path=path,
        layer=layer,
    )
    _validate_driver(profile, path)
    return profile


def load_profile_file(path: Path, layer: str = "built-in") -> Profile:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_profile(data, path.parent.name, str(path), layer)


def _check_conflicts(profiles: list[Profile]) -> None:
    claimed: dict[tuple[str, tuple[Any, ...]], Profile] = {}
    for prof in profiles:
        for rule in prof.matches:
            key = (prof.layer, rule.key())
            other = claimed.get(key)
            if other is not None and other.id != prof.id:
                raise ProfileError(
                    f"{prof.path}: [[match]] vid={rule.vid:#06x} pid={rule.pid if rule.pid is None else hex(rule.pid)} "
                    f"is already claimed by {other.path}"
                )
            claimed[key] = prof


def _profile_files(directory: Path) -> list[Path]:
    """The profile files of one search directory; an unreadable directory (e.g. another user's
    ~/.config seen by the service user) is skipped with a warning instead of stopping everything."""
    try:
        if not directory.is_dir():
            return []
        return sorted(directory.glob("*/profile.toml"))
    except OSError as exc:
        log.warning("skipping profile directory %s: %s", directory, exc.strerror or exc)
        return []


def load_profiles(include_local: bool = True) -> list[Profile]:
    """All profiles, local overrides first. Raises ProfileError on the first bad file."""
    by_id: dict[str, Profile] = {}
    for layer, directory in search_path(include_local):
        for path in _profile_files(directory):
            pid = path.parent.name
            if pid in by_id:
                continue  # an earlier (local) layer already defines this id
            by_id[pid] = load_profile_file(path, layer)
    profiles = sorted(by_id.values(), key=lambda p: (LAYER_RANK[p.layer], p.id))
    _check_conflicts(profiles)
    return profiles


def profile_by_id(pid: str, profiles: list[Profile] | None = None) -> Profile:
    for prof in profiles if profiles is not None else load_profiles():
        if prof.id == pid:
            return prof
    raise ProfileError(f"no profile named {pid!r}")


def match_profile(dev: DeviceInfo, profiles: list[Profile] | None = None) -> Profile | None:
    """The profile for a device: a local layer beats built-in, then the narrowest rule wins.

    Returns None when nothing matches; callers fall back to the generic HID telephony driver
    when the device's descriptor declares the telephony page.
    """
    best: tuple[int, int, Profile] | None = None
    for prof in profiles if profiles is not None else load_profiles():
        rule: MatchRule | None = prof.best_rule(dev)
        if rule is None:
            continue
        score = (-LAYER_RANK[prof.layer], rule.specificity)
        if best is None or score > best[:2]:
            best = (*score, prof)
    return best[2] if best else None

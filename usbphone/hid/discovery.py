"""Find attached handsets: pyudev enumeration of hidraw, USB and tty devices → DeviceInfo + profile + access.

- hidraw nodes: every one (a headset with no profile still works through its descriptor); name, ids,
  interface and phys from the parent ``hid``/``usb_interface`` devices, the descriptor from sysfs.
- USB devices without a hidraw node (vendor-protocol phones whose interface usbhid ignores): only those a
  profile with ``transport = "pyusb"`` matches.
- tty devices: only those a profile with ``transport = "serial"`` matches (by the USB adapter's ids; a
  profile's ``[options] usb_serial`` narrows it to the adapter with that USB serial number).
``Found.access`` says whether the current user may open the node and, if not, why.

Works the same under umockdev (its testbed fakes /sys and udev). Edit this module when a new bus appears.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from usbphone.hid.descriptor import usage_pages
from usbphone.hid.hidraw import describe_access
from usbphone.profiles import DeviceInfo, Profile, match_profile
from usbphone.profiles.schema import BUSES


@dataclass
class Found:
    """One attached device and what usbphone makes of it."""

    info: DeviceInfo
    kind: str  # hidraw | usb | tty
    profile: Profile | None
    may_open: bool
    access: str  # "read/write ok" or why not


def _hex(value: str | None) -> int:
    try:
        return int(value or "0", 16)
    except ValueError:
        return 0


def _access(node: str) -> tuple[bool, str]:
    if not node or not os.path.exists(node):
        return False, "no device node"
    ok = os.access(node, os.R_OK | os.W_OK)
    return ok, describe_access(node)


def _hid_info(dev: object) -> DeviceInfo | None:
    hid = dev.find_parent("hid")  # type: ignore[attr-defined]
    if hid is None:
        return None
    bus_s, _, rest = (hid.properties.get("HID_ID") or "0:0:0").partition(":")
    vid_s, _, pid_s = rest.partition(":")
    iface = dev.find_parent("usb", "usb_interface")  # type: ignore[attr-defined]
    interface = None
    if iface is not None:
        number = iface.attributes.get("bInterfaceNumber")
        interface = _hex(number.decode() if isinstance(number, bytes) else number) if number else None
    try:
        descriptor = Path(hid.sys_path, "report_descriptor").read_bytes()
    except OSError:
        descriptor = b""
    return DeviceInfo(
        bus=_hex(bus_s),
        vid=_hex(vid_s),
        pid=_hex(pid_s),
        name=hid.properties.get("HID_NAME", ""),
        interface=interface,
        descriptor=descriptor,
        serial=hid.properties.get("HID_UNIQ", ""),
        path=dev.device_node or "",  # type: ignore[attr-defined]
        phys=hid.properties.get("HID_PHYS", ""),
        usage_pages=usage_pages(descriptor),
    )


def _attr(dev: object, name: str) -> str:
    value = dev.attributes.get(name)  # type: ignore[attr-defined]
    if value is None:
        return ""
    return value.decode(errors="replace").strip() if isinstance(value, bytes) else str(value).strip()


def _usb_info(dev: object, node: str) -> DeviceInfo:
    return DeviceInfo(
        bus=BUSES["usb"],
        vid=_hex(_attr(dev, "idVendor")),
        pid=_hex(_attr(dev, "idProduct")),
        name=" ".join(x for x in (_attr(dev, "manufacturer"), _attr(dev, "product")) if x),
        serial=_attr(dev, "serial"),
        path=node,
    )


def _serial_ok(profile: Profile, info: DeviceInfo) -> bool:
    """False when the profile names one adapter (``usb_serial``) and this is another."""
    wanted = str(profile.options.get("usb_serial", ""))
    return not wanted or info.serial == wanted


def discover(profiles: list[Profile], context: object | None = None) -> list[Found]:
    """Every attached device usbphone could drive, in a stable order."""
    import pyudev

    ctx = context or pyudev.Context()
    found: list[Found] = []
    for dev in ctx.list_devices(subsystem="hidraw"):  # type: ignore[attr-defined]
        info = _hid_info(dev)
        if info is None:
            continue
        ok, why = _access(info.path)
        found.append(Found(info, "hidraw", match_profile(info, profiles), ok, why))
    usb_profiles = [p for p in profiles if p.transport == "pyusb"]
    if usb_profiles:
        for dev in ctx.list_devices(subsystem="usb", DEVTYPE="usb_device"):  # type: ignore[attr-defined]
            info = _usb_info(dev, dev.device_node or "")
            prof = match_profile(info, usb_profiles)
            if prof is not None:
                ok, why = _access(info.path)
                found.append(Found(info, "usb", prof, ok, why))
    serial_profiles = [p for p in profiles if p.transport == "serial"]
    if serial_profiles:
        for dev in ctx.list_devices(subsystem="tty"):  # type: ignore[attr-defined]
            usb = dev.find_parent("usb", "usb_device")
            if usb is None or not dev.device_node:
                continue
            info = _usb_info(usb, dev.device_node)
            prof = match_profile(info, [p for p in serial_profiles if _serial_ok(p, info)])
            if prof is not None:
                ok, why = _access(info.path)
                found.append(Found(info, "tty", prof, ok, why))
    return sorted(found, key=lambda f: (f.kind, f.info.path))


def find_device(target: str, profiles: list[Profile]) -> Found:
    """The attached device ``target`` names: a node (/dev/hidraw3), ``VID:PID`` or a name substring."""
    from usbphone.errors import UserError

    devices = discover(profiles)
    wanted = target.lower()
    hits = [f for f in devices if f.info.path == target]
    if not hits and ":" in wanted and len(wanted) == 9:
        hits = [f for f in devices if f.info.id_text == wanted]
    if not hits:
        hits = [f for f in devices if wanted in f.info.name.lower()]
    if not hits:
        known = ", ".join(f"{f.info.path} ({f.info.id_text} {f.info.name})" for f in devices) or "none attached"
        raise UserError(f"no attached device matches {target!r} (devices: {known})", exit_code=2)
    telephony = [f for f in hits if f.kind != "hidraw" or 0x0B in f.info.usage_pages or f.profile]
    return (telephony or hits)[0]

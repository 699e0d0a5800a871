"""Pick the profile and driver for a device (live or a trace), and open its transport.

One path for everything: a trace's ``I:``/``R:``/``N:``/``P:`` header becomes the same DeviceInfo discovery
builds for a live device, ``match_profile`` picks the profile (local overrides first, narrowest rule wins),
and with no profile a device whose descriptor declares the telephony page (0x0B) gets the generic
hid_telephony driver. A device with a descriptor but no telephony usages also gets it, with
``capabilities().telephony == False`` (callers say "no telephony controls"; consumer keys still decode).
A ``R: 0`` device with no profile is a UserError telling how to add one.

Edit this module when the fallback policy or the transport choice changes.
"""

from __future__ import annotations

import importlib
import re

from usbphone.drivers import driver_class
from usbphone.drivers.base import Driver
from usbphone.errors import UserError
from usbphone.hid.descriptor import usage_pages
from usbphone.hid.trace import Trace
from usbphone.hid.transport import Transport
from usbphone.profiles import DeviceInfo, Profile, match_profile
from usbphone.profiles.loader import load_profiles, profile_by_id
from usbphone.profiles.schema import ProfileError

GENERIC_DRIVER = "hid_telephony"

# transport name in a profile -> "module:Class" (usb and serial transports live beside this module)
TRANSPORT_CLASSES = {
    "hidraw": "usbphone.hid.hidraw:HidrawTransport",
    "pyusb": "usbphone.hid.usb:UsbTransport",
    "serial": "usbphone.hid.serial:SerialTransport",
}

_INTERFACE = re.compile(r"/input(\d+)$")


def device_info_from_trace(trace: Trace) -> DeviceInfo:
    """The DeviceInfo a trace describes (as discovery would build it for the live device)."""
    match = _INTERFACE.search(trace.phys)
    return DeviceInfo(
        bus=trace.bus,
        vid=trace.vid,
        pid=trace.pid,
        name=trace.name,
        interface=int(match.group(1)) if match else None,
        descriptor=trace.descriptor,
        path=trace.path,
        phys=trace.phys,
        usage_pages=usage_pages(trace.descriptor),
    )


def select_driver(
    dev: DeviceInfo, profile_name: str | None = None, profiles: list[Profile] | None = None
) -> tuple[Profile | None, Driver]:
    """(profile or None, driver) for ``dev``; ``profile_name`` forces a profile by its id.

    Raises UserError (exit code 2) when no driver can take the device; ProfileError for a bad profile.
    """
    if profile_name:
        profile: Profile | None = profile_by_id(profile_name, profiles)
    else:
        profile = match_profile(dev, profiles if profiles is not None else load_profiles())
    if profile is None and not dev.descriptor:
        raise UserError(
            f"no profile matches {dev.id_text} {dev.name!r} and it has no report descriptor to fall back on; "
            "add a profile (see devices/README.md)",
            exit_code=2,
        )
    try:
        return profile, driver_class(profile.driver if profile else GENERIC_DRIVER)(profile, dev)
    except ProfileError as exc:  # e.g. an unparsable report descriptor: the device, not the code, is at fault
        raise UserError(str(exc), exit_code=2) from None


def transport_name(profile: Profile | None) -> str:
    return profile.transport if profile is not None else "hidraw"


def open_transport(dev: DeviceInfo, profile: Profile | None, driver: Driver) -> Transport:
    """A (not yet opened) transport for a live device, as its profile says (hidraw without a profile)."""
    name = transport_name(profile)
    module_name, _, cls_name = TRANSPORT_CLASSES[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"transport {name!r} is not available in this build ({exc})") from None
    transport: Transport = cls.for_device(dev, profile, driver)
    return transport

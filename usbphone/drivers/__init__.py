"""Drivers: one small module per protocol family, turning reports into events and commands into reports.

DRIVERS maps the name a profile's ``device.driver`` uses to ``module:Class``; classes load lazily so
a profile for one family never imports another family's code. Edit this module only to add a line for a
new driver.
"""

from __future__ import annotations

import importlib

from usbphone.drivers.base import Driver, OutputReport

DRIVERS: dict[str, str] = {
    "hid_telephony": "usbphone.drivers.hid_telephony:HidTelephonyDriver",
    "hid_table": "usbphone.drivers.hid_table:HidTableDriver",
    "yealink": "usbphone.drivers.yealink:YealinkDriver",
    "cm109": "usbphone.drivers.cm109:CM109Driver",
    "serial_lines": "usbphone.drivers.serial_lines:SerialLinesDriver",
    "serial_modem": "usbphone.drivers.serial_modem:SerialModemDriver",
}


def driver_class(name: str) -> type[Driver]:
    module_name, _, cls_name = DRIVERS[name].partition(":")
    cls: type[Driver] = getattr(importlib.import_module(module_name), cls_name)
    return cls


__all__ = ["DRIVERS", "Driver", "OutputReport", "driver_class"]

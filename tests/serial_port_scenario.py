"""Run under umockdev-wrapper: find_port() picks a USB serial adapter's tty by VID/PID/serial through pyudev.

Prints one JSON object with what it found; tests/test_serial_lines.py asserts on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from umockdev_devices import FakeUsbDevice  # noqa: E402

from usbphone.hid.serial import find_port  # noqa: E402
from usbphone.hid.transport import TransportError  # noqa: E402

tb = UMockdev.Testbed.new()
for dev in (FakeUsbDevice(0x0403, 0x6001, serial="AAA", port="1-2", kind="tty", tty="ttyUSB0", devnum=2),
            FakeUsbDevice(0x0403, 0x6001, serial="BBB", port="1-3", kind="tty", tty="ttyUSB1", devnum=3),
            FakeUsbDevice(0x1209, 0x0001, serial="X", port="1-4", kind="tty", tty="ttyACM0", devnum=4)):
    tb.add_from_string(dev.description())
out = {"BBB": find_port(0x0403, 0x6001, "BBB"), "any": find_port(0x0403, 0x6001),
       "acm": find_port(0x1209, 0x0001)}
try:
    find_port(0x0403, 0x6001, "ZZZ")
except TransportError as exc:
    out["missing"] = str(exc)
    out["gone"] = exc.gone
print(json.dumps(out))

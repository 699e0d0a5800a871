"""Run under umockdev-wrapper: a USB serial adapter (the rotary/hook-switch profile) is plugged, unplugged and
plugged back with a new tty name, and the real HotplugMonitor announces it each time with its node.

Builds on tests/hotplug_scenarios.py's Bench (same JSON step lines); tests/test_serial_lines.py asserts on them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import hotplug_scenarios as hs  # noqa: E402
from umockdev_devices import FakeUsbDevice  # noqa: E402

from usbphone.profiles.loader import profile_by_id  # noqa: E402


class TtyBench(hs.Bench):
    """The Bench, with the tty nodes of a USB serial adapter in its uevents."""

    def _tty_paths(self, dev: FakeUsbDevice) -> list[str]:
        return [dev.usb_syspath, dev.interface_syspath, f"{dev.interface_syspath}/{dev.tty}", dev.tty_syspath]

    def plug(self, dev: FakeUsbDevice) -> None:
        self.tb.add_from_string(dev.description())
        for path in self._tty_paths(dev):
            self.tb.uevent("/sys" + path, "add")

    def unplug(self, dev: FakeUsbDevice) -> None:
        for path in reversed(self._tty_paths(dev)):
            self.tb.uevent("/sys" + path, "remove")
            self.tb.remove_device("/sys" + path)


def main() -> None:
    hs.PROFILES[:] = [profile_by_id("serial-rotary-hook")]
    b = TtyBench()
    b.start()
    first = FakeUsbDevice(0x0403, 0x6001, kind="tty", product="usbphone rotary", serial="FT1", tty="ttyUSB0")
    b.step("plug", lambda: b.plug(first))
    b.step("unplug", lambda: b.unplug(first))
    again = FakeUsbDevice(0x0403, 0x6001, kind="tty", product="usbphone rotary", serial="FT1", tty="ttyUSB1",
                          port="1-4", devnum=7)
    b.step("replug", lambda: b.plug(again))
    b.finish()


if __name__ == "__main__":
    main()

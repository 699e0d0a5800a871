"""umockdev device descriptions for the appliance tests: USB handsets, hidraw headsets, uhid-style hidraw nodes.

A description is umockdev's text format (recipes §6): ``P:`` sysfs path, ``N:`` device node, ``E:`` udev
property, ``A:`` attribute, ``H:`` binary attribute in hex. The sysfs layout mirrors what the kernel creates
for a USB HID interface (usb_device → usb_interface → hid → hidraw) so that pyudev parent lookups and udev's
KERNELS/ATTRS matching see what they see on real hardware. Edit when a test needs a new kind of device.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

USB_ROOT = "/devices/pci0000:00/0000:00:14.0/usb1"

# A minimal telephony report descriptor written for these tests: Telephony page (0x0B), Phone collection,
# Hook Switch (0x20) and Phone Mute (0x2F) as 1-bit inputs, 6 bits padding (HID Usage Tables 1.4 §14).
TELEPHONY_DESCRIPTOR = bytes.fromhex("050B 0905 A101 1500 2501 0920 092F 7501 9502 8102 7506 9501 8103 C0")


def umockdev_available() -> bool:
    return shutil.which("umockdev-run") is not None and shutil.which("umockdev-wrapper") is not None


@dataclass(frozen=True)
class FakeUsbDevice:
    """One emulated USB device; ``kind`` says which child nodes it has (hidraw, usb-only, tty, sound)."""

    vid: int
    pid: int
    serial: str = ""
    port: str = "1-2"  # the USB path (bus-port); stays the same across a replug into the same port
    kind: str = "hidraw"  # hidraw | usb | tty
    hidraw: str = "hidraw0"
    interface: int = 3
    instance: int = 1  # the hid device's kernel instance number (changes on every replug on real kernels)
    driver: str = ""  # kernel driver bound to the interface, e.g. "yealink"
    product: str = "Test Handset"
    tty: str = "ttyUSB0"
    sound_card: int | None = None
    devnum: int = 2
    descriptor: bytes = b""  # report descriptor of the hid device (sysfs report_descriptor)
    power: str = "auto"  # power/control of the USB device: "auto" = autosuspend allowed, "on" = never

    @property
    def usb_syspath(self) -> str:
        return f"{USB_ROOT}/{self.port}"

    @property
    def interface_syspath(self) -> str:
        return f"{self.usb_syspath}/{self.port}:1.{self.interface}"

    @property
    def hid_name(self) -> str:
        return f"0003:{self.vid:04X}:{self.pid:04X}.{self.instance:04X}"

    @property
    def hidraw_syspath(self) -> str:
        return f"{self.interface_syspath}/{self.hid_name}/hidraw/{self.hidraw}"

    @property
    def tty_syspath(self) -> str:
        return f"{self.interface_syspath}/{self.tty}/tty/{self.tty}"

    @property
    def node(self) -> str:
        """The device node the profile's transport opens."""
        if self.kind == "hidraw":
            return f"/dev/{self.hidraw}"
        if self.kind == "tty":
            return f"/dev/{self.tty}"
        return f"/dev/bus/usb/001/{self.devnum:03d}"

    @property
    def node_syspath(self) -> str:
        return {"hidraw": self.hidraw_syspath, "tty": self.tty_syspath}.get(self.kind, self.usb_syspath)

    def description(self) -> str:
        blocks = [
            [f"P: {self.usb_syspath}", f"N: bus/usb/001/{self.devnum:03d}",
             f"E: DEVNAME=/dev/bus/usb/001/{self.devnum:03d}", "E: DEVTYPE=usb_device", "E: SUBSYSTEM=usb",
             "E: BUSNUM=001", f"E: DEVNUM={self.devnum:03d}", f"E: PRODUCT={self.vid:x}/{self.pid:x}/100",
             f"A: idVendor={self.vid:04x}", f"A: idProduct={self.pid:04x}", f"A: serial={self.serial}",
             f"A: product={self.product}", "A: busnum=1", f"A: devnum={self.devnum}", f"A: power/control={self.power}"],
            [f"P: {self.interface_syspath}", "E: DEVTYPE=usb_interface", "E: SUBSYSTEM=usb",
             f"A: bInterfaceNumber={self.interface:02x}", "A: bInterfaceClass=03"]
            + ([f"L: driver=../../../../../../bus/usb/drivers/{self.driver}"] if self.driver else []),
        ]
        if self.kind == "hidraw":
            phys = f"usb-0000:00:14.0-{self.port[2:]}/input{self.interface}"
            blocks.append([f"P: {self.interface_syspath}/{self.hid_name}", "E: SUBSYSTEM=hid",
                           f"E: HID_ID=0003:{self.vid:08X}:{self.pid:08X}", f"E: HID_NAME={self.product}",
                           f"E: HID_UNIQ={self.serial}", f"H: report_descriptor={self.descriptor.hex().upper()}",
                           f"E: HID_PHYS={phys}", "L: driver=../../../../../../../bus/hid/drivers/hid-generic"])
            blocks.append([f"P: {self.hidraw_syspath}", f"N: {self.hidraw}", f"E: DEVNAME=/dev/{self.hidraw}",
                           "E: SUBSYSTEM=hidraw"])
        if self.kind == "tty":
            blocks.append([f"P: {self.interface_syspath}/{self.tty}", "E: SUBSYSTEM=usb-serial"])
            blocks.append([f"P: {self.tty_syspath}", f"N: {self.tty}", f"E: DEVNAME=/dev/{self.tty}",
                           "E: SUBSYSTEM=tty"])
        if self.sound_card is not None:
            card = f"{self.usb_syspath}/{self.port}:1.1/sound/card{self.sound_card}"
            blocks.append([f"P: {self.usb_syspath}/{self.port}:1.1", "E: DEVTYPE=usb_interface", "E: SUBSYSTEM=usb",
                           "A: bInterfaceNumber=01", "A: bInterfaceClass=01",
                           "L: driver=../../../../../../bus/usb/drivers/snd-usb-audio"])
            blocks.append([f"P: {card}", "E: SUBSYSTEM=sound", f"A: id={self.product.replace(' ', '')[:15]}",
                           f"A: number={self.sound_card}"])
            blocks.append([f"P: {card}/pcmC{self.sound_card}D0p", f"N: snd/pcmC{self.sound_card}D0p",
                           f"E: DEVNAME=/dev/snd/pcmC{self.sound_card}D0p", "E: SUBSYSTEM=sound"])
        return "\n\n".join("\n".join(b) for b in blocks) + "\n"


def uhid_description(vid: int, pid: int, bus: int = 0x06, hidraw: str = "hidraw1", instance: int = 2,
                     name: str = "uhid handset") -> str:
    """A hidraw node under /devices/virtual/misc/uhid: no USB parent, as the kernel creates for uhid."""
    hid = f"/devices/virtual/misc/uhid/{bus:04X}:{vid:04X}:{pid:04X}.{instance:04X}"
    return "\n".join([
        f"P: {hid}", "E: SUBSYSTEM=hid", f"E: HID_ID={bus:04X}:{vid:08X}:{pid:08X}", f"E: HID_NAME={name}",
        "",
        f"P: {hid}/hidraw/{hidraw}", f"N: {hidraw}", f"E: DEVNAME=/dev/{hidraw}", "E: SUBSYSTEM=hidraw",
    ]) + "\n"

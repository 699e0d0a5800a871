"""Discovery, `usbphone devices` and `usbphone record` against an emulated hidraw headset (umockdev).

umockdev fakes sysfs, udev and the /dev/hidraw0 node: pyudev enumeration, the sysfs report descriptor and
plain read() on the node are the real code paths (recipes §6). The headset's descriptor is the project's
own GN-style one (devices/jabra-gn/traces), its input reports come from a umockdev script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from umockdev_devices import FakeUsbDevice, umockdev_available

from usbphone.hid.trace import load_trace

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.umockdev,
              pytest.mark.skipif(not umockdev_available(), reason="needs umockdev (Debian umockdev)")]
GN = load_trace(ROOT / "devices/jabra-gn/traces/gn-call-keypad.hid").descriptor


def usbphone_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "usbphone"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "usbphone.cli"]


def caret(data: bytes) -> bytes:
    """umockdev script data: bytes below 0x20 as '^'+(b+64), '^' as '^`' (script-format.txt)."""
    out = bytearray()
    for b in data:
        if b < 0x20:
            out += bytes([0x5E, b + 64])
        elif b == 0x5E:
            out += b"^`"
        else:
            out.append(b)
    return bytes(out)


def run(tmp_path: Path, args: list[str], script: list[tuple[int, bytes]] | None = None,
        descriptor: bytes = GN, vid: int = 0x0B0E) -> subprocess.CompletedProcess[str]:
    dev = FakeUsbDevice(vid=vid, pid=0x0307, product="Test GN Headset", serial="A1", descriptor=descriptor)
    (tmp_path / "dev.umockdev").write_text(dev.description())
    cmd = ["umockdev-run", "-d", str(tmp_path / "dev.umockdev")]
    if script is not None:
        lines = b"".join(b"r %d " % ms + caret(data) + b"\n" for ms, data in script)
        (tmp_path / "hidraw0.script").write_bytes(lines)
        cmd += ["-s", f"/dev/hidraw0={tmp_path / 'hidraw0.script'}"]
    return subprocess.run(cmd + ["--"] + usbphone_cmd() + args, capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def test_devices_lists_the_headset_with_profile_and_capabilities(tmp_path: Path) -> None:
    res = run(tmp_path, ["devices", "--json"])
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert (row["path"], row["id"], row["name"], row["interface"]) == ("/dev/hidraw0", "0b0e:0307",
                                                                     "Test GN Headset", 3)
    assert row["profile"] == "jabra-gn" and row["transport"] == "hidraw" and row["telephony"] is True
    assert "hook(absolute)" in row["capabilities"] and "keypad" in row["capabilities"]
    assert isinstance(row["may_open"], bool) and row["access"]


def test_devices_without_profile_and_without_telephony(tmp_path: Path) -> None:
    res = run(tmp_path, ["devices"], vid=0x1209)
    assert res.returncode == 0 and "profile: generic hid_telephony" in res.stdout, res.stdout + res.stderr
    consumer_only = bytes.fromhex("050c0901a101850115002501750195020 9e909ea8102750195068101c0".replace(" ", ""))
    res = run(tmp_path, ["devices"], descriptor=consumer_only, vid=0x1209)
    assert res.returncode == 0 and "no USB handset or telephony headset attached (try --all)" in res.stdout
    res = run(tmp_path, ["devices", "--all"], descriptor=consumer_only, vid=0x1209)
    assert "no telephony controls (audio only)" in res.stdout


def test_record_writes_a_trace_that_replays(tmp_path: Path) -> None:
    # GN-style id 2: b0 hook; keypad nibble at bits 15-18 (12 = no key): even keys keep bytes < 0x80
    # umockdev hands a read whatever has arrived, so reports are spaced wider than the reader's turnaround
    script = [(300, bytes([2, 0x00, 0x06])), (250, bytes([2, 0x01, 0x06])), (250, bytes([2, 0x01, 0x01])),
              (250, bytes([2, 0x01, 0x06])), (250, bytes([2, 0x00, 0x06]))]
    out = tmp_path / "rec.hid"
    res = run(tmp_path, ["record", "/dev/hidraw0", "--count", "5", "--duration", "20", "-o", str(out)], script)
    assert res.returncode == 0, res.stderr
    assert "5 reports" in res.stderr
    trace = load_trace(out)
    assert (trace.vid, trace.pid, trace.name, trace.descriptor) == (0x0B0E, 0x0307, "Test GN Headset", GN)
    assert [r.data for r in trace.inputs] == [d for _, d in script]
    assert [r.t for r in trace.inputs] == sorted(r.t for r in trace.inputs)
    replay = subprocess.run(usbphone_cmd() + ["replay", str(out)], capture_output=True, text=True, timeout=60)
    assert replay.stdout.split("\n")[:-1] == ["hook off", "key 2", "key_up 2", "hook on"]


def test_send_writes_the_whole_output_report_to_the_node(tmp_path: Path) -> None:
    dev = FakeUsbDevice(vid=0x0B0E, pid=0x0307, product="Test GN Headset", serial="A1", descriptor=GN)
    (tmp_path / "dev.umockdev").write_text(dev.description())
    # the script says what the device must receive: report id 2, LED Off-Hook bit (b0), nothing else
    (tmp_path / "hidraw0.script").write_bytes(b"w 0 " + caret(bytes([2, 1, 0])) + b"\n")
    cmd = ["umockdev-run", "-d", str(tmp_path / "dev.umockdev"), "-s",
           f"/dev/hidraw0={tmp_path / 'hidraw0.script'}", "--"] + usbphone_cmd()
    res = subprocess.run(cmd + ["send", "/dev/hidraw0", "led", "off_hook", "on", "--json"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"report": "02 01 00", "transport": "hidraw"}
    bad = tmp_path / "bad.script"
    bad.write_bytes(b"w 0 " + caret(bytes([2, 4, 0])) + b"\n")  # expects LED Ring instead
    cmd[4] = f"/dev/hidraw0={bad}"
    res = subprocess.run(cmd + ["send", "/dev/hidraw0", "led", "off_hook", "on"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert res.returncode != 0  # umockdev rejects a write the script does not expect


@pytest.mark.parametrize("dev,profile,transport", [
    (FakeUsbDevice(vid=0x6993, pid=0xB001, kind="usb", product="USB-PHONE"), "yealink-usb-p1k", "pyusb"),
    (FakeUsbDevice(vid=0x0403, pid=0x6001, kind="tty", product="usbphone rotary"), "serial-rotary-hook", "serial"),
])
def test_devices_lists_vendor_usb_and_serial_phones(tmp_path: Path, dev: FakeUsbDevice, profile: str,
                                                    transport: str) -> None:
    (tmp_path / "dev.umockdev").write_text(dev.description())
    res = subprocess.run(["umockdev-run", "-d", str(tmp_path / "dev.umockdev"), "--"] + usbphone_cmd()
                         + ["devices", "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(r["path"], r["profile"], r["transport"]) for r in rows] == [(dev.node, profile, transport)]
    # the Yealink is probed for its model; libusb does not see umockdev's device, which is one clear note
    if transport == "pyusb":
        assert rows[0]["notes"][-1].startswith("not probed: USB device 6993:b001"), rows[0]["notes"]


def test_usb_serial_option_picks_one_of_two_identical_adapters(tmp_path: Path) -> None:
    """A serial profile's usb_serial names one adapter: a second one with the same ids is not taken."""
    local = tmp_path / "local" / "serial-rotary-hook"
    local.mkdir(parents=True)
    text = (ROOT / "devices/serial-rotary-hook/profile.toml").read_text()
    local.joinpath("profile.toml").write_text(text.replace("[options]\n", '[options]\nusb_serial = "FT2"\n', 1))
    ours = FakeUsbDevice(vid=0x0403, pid=0x6001, kind="tty", product="usbphone rotary", serial="FT2", port="1-3",
                         tty="ttyUSB1", devnum=3)
    other = FakeUsbDevice(vid=0x0403, pid=0x6001, kind="tty", product="usbphone rotary", serial="FT1")
    (tmp_path / "dev.umockdev").write_text(other.description() + "\n" + ours.description())
    env = {**os.environ, "USBPHONE_DEVICES": str(tmp_path / "local"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    res = subprocess.run(["umockdev-run", "-d", str(tmp_path / "dev.umockdev"), "--"] + usbphone_cmd()
                         + ["devices", "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["path"] for line in res.stdout.splitlines()] == ["/dev/ttyUSB1"]

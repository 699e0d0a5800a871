"""The hidraw transport's own I/O (select + wake pipe), exercised on a FIFO standing in for /dev/hidrawN.

A FIFO opened read/write behaves like a hidraw node for what this module does: select, read, write.
The HIDIOCSFEATURE ioctl is not reachable this way (nor under umockdev); a FIFO answers it with ENOTTY.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from usbphone.drivers.base import OutputReport
from usbphone.hid.hidraw import HidrawTransport, describe_access, sysfs_descriptor
from usbphone.hid.transport import TransportError


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = tmp_path / "hidraw9"
    os.mkfifo(path)
    return str(path)


def test_write_then_read_numbered_and_unnumbered(fifo: str) -> None:
    t = HidrawTransport(fifo, numbered=True)
    t.open()
    try:
        t.write(OutputReport(b"\x02\x01\x00"))
        assert t.read(1.0) == b"\x02\x01\x00"
    finally:
        t.close()
    u = HidrawTransport(fifo, numbered=False)
    u.open()
    try:
        u.write(OutputReport(b"\x20\x0f"))
        assert u.read(1.0) == b"\x00\x20\x0f"  # hidraw ABI: report number 0 first for unnumbered devices
    finally:
        u.close()


def test_read_timeout_returns_none(fifo: str) -> None:
    t = HidrawTransport(fifo, numbered=True)
    t.open()
    start = time.monotonic()
    assert t.read(0.1) is None
    assert 0.08 <= time.monotonic() - start < 2.0
    t.close()
    assert t.read(0.1) is None  # closed: None at once, no error


def test_close_unblocks_a_blocked_read(fifo: str) -> None:
    t = HidrawTransport(fifo, numbered=True)
    t.open()
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(t.read(None)))
    reader.start()
    time.sleep(0.2)
    assert reader.is_alive()
    start = time.monotonic()
    t.close()
    reader.join(5)
    assert not reader.is_alive() and got == [None]
    assert time.monotonic() - start < 1.0
    t.close()  # idempotent


def test_errors_are_one_sentence(fifo: str, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="no such device") as err:
        HidrawTransport(str(tmp_path / "hidraw77")).open()
    assert err.value.gone
    t = HidrawTransport(fifo, numbered=True)
    with pytest.raises(TransportError, match="not open"):
        t.write(OutputReport(b"\x01"))
    t.open()
    with pytest.raises(TransportError, match="write failed"):
        t.write(OutputReport(b"\x01\x02", "feature"))
    with pytest.raises(TransportError, match="cannot do a 'control' write"):
        t.write(OutputReport(b"\x01", "control"))
    t.close()


def test_sysfs_descriptor_and_access(tmp_path: Path, fifo: str) -> None:
    dev = tmp_path / "class" / "hidraw" / "hidraw9" / "device"
    dev.mkdir(parents=True)
    (dev / "report_descriptor").write_bytes(b"\x05\x0b")
    assert sysfs_descriptor("/dev/hidraw9", str(tmp_path)) == b"\x05\x0b"
    assert sysfs_descriptor("/dev/hidraw8", str(tmp_path)) == b""
    assert describe_access(fifo) == "read/write ok"
    assert "cannot stat" in describe_access(str(tmp_path / "nothing"))


def test_unnumbered_device_report_number_added_once(fifo: str) -> None:
    from usbphone.hid.rdesc_builder import APPLICATION, VAR, Rdesc

    desc = Rdesc().page(0x08).usage(0x01).collection(APPLICATION).bits("output", [0x17, 0x09], VAR)
    desc = desc.pad("output", 6).end().bytes()  # one unnumbered 1-byte output report
    t = HidrawTransport(fifo, descriptor=desc)
    t.open()
    try:
        assert not t.numbered
        t.write(OutputReport(b"\x01"))  # the report alone: hidraw's report number 0 is added
        assert t.read(1.0) == b"\x00\x01"
        t.write(OutputReport(b"\x00\x02"))  # a driver that already put the report number first
        assert t.read(1.0) == b"\x00\x02"
    finally:
        t.close()


def test_wake_returns_a_blocked_read_and_keeps_the_report(fifo: str) -> None:
    t = HidrawTransport(fifo, numbered=True)
    t.open()
    try:
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.append(t.read(None)))
        reader.start()
        time.sleep(0.2)
        assert reader.is_alive()
        t.wake()
        reader.join(5)
        assert not reader.is_alive() and got == [None]
        t.wake()  # a wake-up before the read: that read returns None at once, the next one blocks again
        assert t.read(5.0) is None
        start = time.monotonic()
        assert t.read(0.2) is None and time.monotonic() - start >= 0.15
        t.write(OutputReport(b"\x02\x01\x00"))
        assert t.read(1.0) == b"\x02\x01\x00"
    finally:
        t.close()
    t.wake()  # closed: nothing happens


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become 'nobody'")
def test_a_node_the_user_may_not_open_says_why() -> None:
    """`usbphone devices` says whether the current user may open a node, and why not (issue 2)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        node = Path(tmp) / "hidraw7"
        node.write_bytes(b"")
        node.chmod(0o600)  # root's, as /dev/hidrawN is without usbphone's udev rules
        code = f"from usbphone.hid.discovery import _access; ok, why = _access({str(node)!r}); print(ok); print(why)"
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c"]
        if subprocess.run(nobody + ["import usbphone"], capture_output=True, timeout=60, cwd="/").returncode:
            pytest.skip("'nobody' cannot read this checkout (e.g. it lives under /root)")
        res = subprocess.run(nobody + [code], capture_output=True, text=True, timeout=60, cwd="/")
    assert res.returncode == 0, res.stderr
    ok, why = res.stdout.splitlines()
    assert ok == "False"
    assert why.startswith("owned by root:root mode 0600; install the udev rules") and "group root" in why

"""hid-recorder trace format: round trip, our `# O:` extension, and one clear error per bad line."""

from __future__ import annotations

import pytest

from usbphone.hid.trace import Trace, TraceError, TraceReport, load_trace, parse_trace

GOOD = """# a comment
D: 0
R: 4 05 0b 09 05
N: Test Headset
P: usb-0000:00:14.0-3/input3
I: 3 0b0e 0307
E: 000000.000000 3 02 00 06
# O: 000000.250000 3 02 01 00 hidraw
E: 000001.500000 3 02 01 06
"""


def test_parse_fields_and_reports() -> None:
    tr = parse_trace(GOOD, "good.hid")
    assert (tr.bus, tr.vid, tr.pid, tr.name) == (3, 0x0B0E, 0x0307, "Test Headset")
    assert tr.descriptor == bytes([0x05, 0x0B, 0x09, 0x05]) and tr.phys.endswith("input3")
    assert [(r.t, r.data.hex()) for r in tr.inputs] == [(0.0, "020006"), (1.5, "020106")]
    assert [(r.t, r.data.hex(), r.transport) for r in tr.outputs] == [(0.25, "020100", "hidraw")]
    assert tr.comments == ["a comment"]


def test_round_trip(tmp_path) -> None:
    tr = Trace(name="X", phys="p", bus=3, vid=1, pid=2, descriptor=b"\x05\x0b",
               reports=[TraceReport(0.000001, b"\x01"), TraceReport(2.5, b"\x02\x03", "out", "feature")])
    tr.save(tmp_path / "x.hid")
    back = load_trace(tmp_path / "x.hid")
    assert back.reports == tr.reports and back.descriptor == tr.descriptor and (back.vid, back.pid) == (1, 2)


def test_r0_trace_needs_i_line() -> None:
    assert parse_trace("R: 0\nI: 3 6993 b001\nE: 000000.000000 1 00\n").descriptor == b""
    with pytest.raises(TraceError, match="needs an 'I:"):
        parse_trace("R: 0\nE: 000000.000000 1 00\n", "r0.hid")


@pytest.mark.parametrize("text,line,what", [
    ("D: 0\nI: 3 1 2\nE: 000000.000000 1 00\n", 3, "before the 'R:'"),
    ("R: 2 05 0b\nI: 3 1 2\nE: 000000.000000 3 02 00\n", 3, "truncated"),
    ("R: 2 05 0b\nI: 3 1 2\nE: soon 1 00\n", 3, "expected"),
    ("R: 2 05 zz\n", 1, "hex"),
    ("R: 2 05 0b\nX: what\n", 2, "unknown line type"),
    ("R: 2 05 0b\nI: 3 one 2\n", 2, "I:"),
])
def test_bad_line_is_named(text: str, line: int, what: str) -> None:
    with pytest.raises(TraceError, match=rf"bad\.hid:{line}: .*{what}"):
        parse_trace(text, "bad.hid")


def test_missing_r_and_unreadable_file(tmp_path) -> None:
    with pytest.raises(TraceError, match="no 'R:' descriptor line"):
        parse_trace("I: 3 1 2\n", "x.hid")
    with pytest.raises(TraceError, match="cannot read trace"):
        load_trace(tmp_path / "missing.hid")


def test_hid_tools_reads_our_traces() -> None:
    """Our traces stay in hid-recorder's format: hid-tools' own hid-decode reads them (the descriptor part)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "hid-decode"
    tool = str(exe) if exe.exists() else shutil.which("hid-decode")
    if tool is None:
        pytest.skip("hid-decode (hid-tools) not installed")
    trace = Path(__file__).resolve().parents[1] / "devices/jabra-gn/traces/gn-call-keypad.hid"
    res = subprocess.run([tool, str(trace)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "Usage (Hook Switch)" in res.stdout and "Usage (Off-Hook)" in res.stdout

"""Read and write hid-recorder's text trace format (the format hid-tools' hid-recorder/hid-replay use).

Lines: ``D: <n>`` device index, ``R: <len> <hex…>`` report descriptor (``R: 0`` for vendor-protocol devices),
``N: <name>``, ``P: <phys>``, ``I: <bus> <vid> <pid>`` (hex), ``E: <sec>.<usec> <len> <hex…>`` one input report.
Our extension, a comment so hid-tools ignores it: ``# O: <sec>.<usec> <len> <hex…> [transport]`` one
host→device write (needed for devices that answer host requests: Yealink polling, CM109 key scanning).

Edit this module when the trace format grows; keep it readable by hid-tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class TraceError(ValueError):
    """A malformed trace; the message names the file and line."""


@dataclass(frozen=True)
class TraceReport:
    """One timed report: ``direction`` is "in" (device→host, ``E:``) or "out" (host→device, ``# O:``)."""

    t: float
    data: bytes
    direction: str = "in"
    transport: str = ""


@dataclass
class Trace:
    """A parsed trace of one device."""

    name: str = ""
    phys: str = ""
    bus: int = 0
    vid: int = 0
    pid: int = 0
    descriptor: bytes = b""
    reports: list[TraceReport] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    path: str = ""

    @property
    def inputs(self) -> list[TraceReport]:
        return [r for r in self.reports if r.direction == "in"]

    @property
    def outputs(self) -> list[TraceReport]:
        return [r for r in self.reports if r.direction == "out"]

    def dumps(self) -> str:
        lines = [f"# {c}" for c in self.comments]
        lines.append("D: 0")
        lines.append(_hex_line("R:", self.descriptor))
        lines.append(f"N: {self.name}")
        lines.append(f"P: {self.phys}")
        lines.append(f"I: {self.bus:x} {self.vid:04x} {self.pid:04x}")
        lines += [report_line(rep) for rep in self.reports]
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())


def report_line(rep: TraceReport) -> str:
    """One report as its trace line: ``E: …`` for input, ``# O: … [transport]`` for a host write."""
    stamp = format_time(rep.t)
    if rep.direction == "in":
        return _hex_line(f"E: {stamp}", rep.data)
    tail = f" {rep.transport}" if rep.transport else ""
    return _hex_line(f"# O: {stamp}", rep.data) + tail


def format_time(t: float) -> str:
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    return f"{sec:06d}.{usec:06d}"


def _hex_line(prefix: str, data: bytes) -> str:
    body = " ".join(f"{b:02x}" for b in data)
    return f"{prefix} {len(data)}" + (f" {body}" if body else "")


_TIME = re.compile(r"^\d+\.\d{1,6}$")


def _parse_bytes(words: list[str], where: str) -> bytes:
    if not words:
        raise TraceError(f"{where}: missing length")
    try:
        length = int(words[0])
        data = bytes(int(w, 16) for w in words[1:])
    except ValueError as exc:
        raise TraceError(f"{where}: not a length followed by hex bytes ({exc})") from None
    if len(data) != length:
        raise TraceError(f"{where}: says {length} bytes but has {len(data)} (truncated report?)")
    return data


def _parse_timed(rest: str, where: str) -> tuple[float, bytes, list[str]]:
    words = rest.split()
    if not words or not _TIME.match(words[0]):
        raise TraceError(f"{where}: expected '<sec>.<usec> <len> <hex…>'")
    sec, usec = words[0].split(".")
    t = int(sec) + int(usec.ljust(6, "0")) / 1e6
    try:
        length = int(words[1]) if len(words) > 1 else -1
    except ValueError:
        raise TraceError(f"{where}: report length {words[1]!r} is not a number") from None
    data = _parse_bytes(words[1 : 2 + length], where) if length >= 0 else _parse_bytes([], where)
    return t, data, words[2 + length :]


def parse_trace(text: str, path: str = "<trace>") -> Trace:
    """Parse a trace. Only the first device (``D: 0``) is read; a bad line raises TraceError naming it."""
    trace = Trace(path=path)
    seen_r = seen_i = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line:
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if body.startswith("O:"):
                t, data, extra = _parse_timed(body[2:], where)
                trace.reports.append(TraceReport(t, data, "out", extra[0] if extra else ""))
            elif body:
                trace.comments.append(body)
            continue
        tag, _, rest = line.partition(":")
        rest = rest.strip()
        if tag == "D":
            if rest not in ("0", ""):
                break  # later devices of a multi-device recording are not ours
        elif tag == "R":
            trace.descriptor = _parse_bytes(rest.split(), where)
            seen_r = True
        elif tag == "N":
            trace.name = rest
        elif tag == "P":
            trace.phys = rest
        elif tag == "I":
            words = rest.split()
            try:
                trace.bus, trace.vid, trace.pid = (int(w, 16) for w in words)
            except ValueError:
                raise TraceError(f"{where}: expected 'I: <bus> <vid> <pid>' in hex") from None
            seen_i = True
        elif tag == "E":
            if not seen_r:
                raise TraceError(f"{where}: event before the 'R:' descriptor line")
            t, data, _ = _parse_timed(rest, where)
            trace.reports.append(TraceReport(t, data, "in"))
        else:
            raise TraceError(f"{where}: unknown line type {tag!r}")
    if not seen_r:
        raise TraceError(f"{path}: no 'R:' descriptor line (use 'R: 0' for vendor-protocol devices)")
    if not seen_i and not trace.descriptor:
        raise TraceError(f"{path}: 'R: 0' trace needs an 'I: <bus> <vid> <pid>' line to pick its profile")
    return trace


def load_trace(path: str | Path) -> Trace:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: cannot read trace ({exc})") from None
    return parse_trace(text, str(p))

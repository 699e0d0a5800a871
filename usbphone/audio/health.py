"""The audio bridge's health as the event log recorded it: xruns, callback errors and faults of recent streams.

The running appliance writes one ``audio_closed`` status per sound stream (its xruns, callback errors, why it
closed) and one ``audio_fault`` per fault (said once) to its event log (`usbphone run --log-json FILE`,
usbphone/eventlog.py). ``summarize(path)`` reads the end of that file and turns the last ``streams`` streams
and faults into findings for `usbphone doctor --events FILE` (usbphone/commands/doctor.py). Edit when the
bridge logs a new kind of health record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TAIL_BYTES = 1 << 20  # the end of the log is enough: the last streams and faults


@dataclass
class Finding:
    level: str  # ok | warning | problem (as doctor's Check)
    detail: str
    fix: str = ""


def _records(path: Path) -> list[dict]:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - TAIL_BYTES))
        lines = f.read().decode("utf-8", "replace").splitlines()
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first line may be cut
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash: the rest still counts
        if isinstance(rec, dict) and rec.get("kind") == "status":
            out.append(rec)
    return out


def summarize(path: str | Path, streams: int = 10) -> list[Finding]:
    """Findings about the last ``streams`` sound streams and the audio faults logged since the first of them."""
    p = Path(path)
    try:
        records = _records(p)
    except OSError as exc:
        return [Finding("problem", f"cannot read the event log {p}: {exc.strerror}",
                        "give the path `usbphone run --log-json` writes to, readable by this user")]
    closed = [r for r in records if r.get("status") == "audio_closed" and isinstance(r.get("audio"), dict)]
    recent = closed[-streams:]
    since = recent[0].get("t", 0) if recent else 0
    faults = [r["audio"] for r in records if r.get("status") == "audio_fault" and isinstance(r.get("audio"), dict)
              and r.get("t", 0) >= since]
    out: list[Finding] = []
    if not recent:
        out.append(Finding("ok", f"no sound stream recorded in {p} yet"))
    else:
        xruns = sum(int(r["audio"].get("xruns", 0) or 0) for r in recent)
        errors = sum(int(r["audio"].get("errors", 0) or 0) for r in recent)
        seconds = sum(float(r["audio"].get("seconds", 0) or 0) for r in recent)
        text = f"last {len(recent)} sound stream(s), {seconds:.0f} s: {xruns} xrun(s), {errors} callback error(s)"
        if errors:
            last = next((r["audio"].get("last_error") for r in reversed(recent) if r["audio"].get("errors")), "")
            out.append(Finding("problem", f"{text} (last: {last})", "report it with the event log attached"))
        elif xruns:
            out.append(Finding("warning", text, 'the sound card or its server missed deadlines: set [audio] '
                                                'latency = "high" in the config, or lower the machine\'s load'))
        else:
            out.append(Finding("ok", text))
    for fault in faults[-5:]:
        out.append(Finding("warning", f"audio fault {fault.get('kind', '?')}: {fault.get('message', '')}",
                           "see the README's Audio section for the device and its override"))
    return out

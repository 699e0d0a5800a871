"""EventLog: the appliance's structured log, one JSON object per line (`usbphone run --log-json FILE`).

Every handset event, handset command, call event and call command is written with ``t`` (Unix time, s) and
``kind``: ``handset_event`` ({"event": "key", "value": "6"}), ``handset_command`` ({"command": "ring",
"value": "on"}), ``call_event`` ({"event": "incoming", "call_id": 0, ...}), ``call_command`` ({"command":
"dial", "target": "600"}), ``device_write`` ({"report": "02 03 00", "transport": "hidraw"}: the bytes a
handset command became), plus ``status`` lines (start, stop, errors). Lines are flushed as written, so a
crash loses nothing and `tail -f` works. Edit this module when a record kind is added.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from usbphone.errors import UserError
from usbphone.events import CallCommand, CallEvent, HandsetCommand, HandsetEvent


def record(item: HandsetEvent | HandsetCommand | CallEvent | CallCommand, t: float) -> dict[str, Any]:
    """The JSON object for one item (``t`` = Unix time)."""
    out: dict[str, Any] = {"t": round(t, 6)}
    if isinstance(item, HandsetEvent):
        out["kind"] = "handset_event"
        out.update({k: v for k, v in item.to_json().items() if k != "t"})
    elif isinstance(item, HandsetCommand):
        out["kind"] = "handset_command"
        out.update(item.to_json())
    elif isinstance(item, CallEvent):
        data = item.to_json()
        out["kind"] = "call_event"
        out["event"] = data.pop("kind")
        out.update(data)
    else:
        data = item.to_json()
        out["kind"] = "call_command"
        out["command"] = data.pop("kind")
        out.update(data)
    for name in ("call_id", "other_call_id"):  # to_json drops zeros, but call 0 is a real call
        if getattr(item, name, None) is not None:
            out[name] = getattr(item, name)
    return out


class EventLog:
    """Appends JSON lines to a file (or does nothing when ``path`` is None). Thread-safe."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise UserError(f"cannot write the event log {path}: {exc.strerror}") from None

    def write(self, item: HandsetEvent | HandsetCommand | CallEvent | CallCommand, **extra: Any) -> None:
        self._emit(record(item, time.time()) | extra)

    def device_write(self, out: Any) -> None:
        """One OutputReport written to the handset (``to_json()`` gives report hex + transport)."""
        self._emit({"t": round(time.time(), 6), "kind": "device_write", **out.to_json()})

    def status(self, what: str, **fields: Any) -> None:
        self._emit({"t": round(time.time(), 6), "kind": "status", "status": what, **fields})

    def _emit(self, obj: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(obj, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

"""Earpiece and ring volume per handset, kept across replugs and restarts (a small JSON file).

Where: ``$STATE_DIRECTORY`` (the system unit's StateDirectory=usbphone), else ``$XDG_STATE_HOME/usbphone``,
else ``~/.local/state/usbphone``; file ``volumes.json`` = ``{"<device key>": [volume, ring_volume]}``. The
device key is hotplug's identity (VID:PID + serial or USB port), so the same handset gets its volumes back.
A file that cannot be read or written is said once and otherwise ignored: volumes then last for the run.
Edit this module if more per-device state needs to survive restarts.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("usbphone.app")


def default_path() -> Path:
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / "volumes.json"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "usbphone" / "volumes.json"


class VolumeStore:
    """``get(key)`` → (volume, ring_volume) or None; ``put(key, volume, ring_volume)`` saves at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._data: dict[str, tuple[int, int]] = {}
        self._warned = False
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            for key, value in raw.items():
                if (isinstance(value, list) and len(value) == 2
                        and all(isinstance(v, int) and 0 <= v <= 100 for v in value)):
                    self._data[str(key)] = (value[0], value[1])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            self._warn(f"cannot read saved volumes from {self.path} ({exc}); starting from the defaults")

    def get(self, key: str) -> tuple[int, int] | None:
        return self._data.get(key)

    def put(self, key: str, volume: int, ring_volume: int) -> None:
        if self._data.get(key) == (volume, ring_volume):
            return
        self._data[key] = (volume, ring_volume)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({k: list(v) for k, v in sorted(self._data.items())}) + "\n", encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            self._warn(f"cannot save volumes to {self.path} ({exc.strerror}); they last until usbphone stops")

    def _warn(self, text: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s", text)

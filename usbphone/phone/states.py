"""The Phone's state names and its record of one call (shared by machine.py and buttons.py).

Edit this module when a state is added; describe it in machine.py's docstring too.
"""

from __future__ import annotations

from dataclasses import dataclass

IDLE, PREDIAL, DIALTONE, DIALING = "idle", "predial", "dialtone", "dialing"
CALLING, RINGBACK, IN_CALL, HELD = "calling", "ringback", "in_call", "held"
RINGING, BUSY, TRANSFER, DONE = "ringing", "busy", "transfer", "done"
ON_HOOK_STATES = frozenset({IDLE, PREDIAL, RINGING})
BUSY_CODES = frozenset({486, 600})  # "busy" tone; any other failure gets "reorder"


@dataclass
class Call:
    """What the Phone knows about one call."""

    call_id: int | None
    number: str
    name: str = ""
    incoming: bool = False
    status: str = "new"  # new | early | ringing | answering | connected | held
    connected_at: float | None = None

    @property
    def label(self) -> str:
        return self.name or self.number or "unknown"

"""The one closed vocabulary every part of usbphone speaks (DESIGN.md "The vocabulary" is the authority).

HandsetEvent: what a handset says (hook, key, key_up, button, button_up, device).
HandsetCommand: what a handset is told (ring, ring_volume, led, lcd, lcd_clear, tone, speaker, volume).
CallCommand / CallEvent: what the Phone asks of the call core and what the call core reports back.

Edit this module (and the DESIGN.md table first) when a device needs a word that does not exist yet;
constructors validate values so a typo fails loudly where it is made, not three modules later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEYS = frozenset("0123456789*#ABCD")
BUTTONS = frozenset(
    {
        "mute", "flash", "redial", "hold", "transfer", "conference", "pickup", "hangup", "reject",
        "clear", "up", "down", "left", "right", "in", "out", "menu", "vol_up", "vol_down", "speaker",
        "dnd", "voicemail", "speed_dial",
    }
)
HOOK_STATES = frozenset({"off", "on"})
DEVICE_STATES = frozenset({"attached", "detached", "error"})

EVENT_VALUES: dict[str, frozenset[str]] = {
    "hook": HOOK_STATES,
    "key": KEYS,
    "key_up": KEYS,
    "button": BUTTONS,
    "button_up": BUTTONS,
    "device": DEVICE_STATES,
}

LEDS = frozenset(
    {"off_hook", "ring", "mute", "microphone", "hold", "on_line", "speaker", "message", "dnd", "backlight"}
)
LED_STATES = frozenset({"on", "off", "blink"})
TONES = frozenset({"dial", "ringback", "busy", "reorder", "call_waiting", "confirm", "off"})
ON_OFF = frozenset({"on", "off"})
COMMAND_KINDS = frozenset(
    {"ring", "ring_volume", "led", "lcd", "lcd_clear", "tone", "speaker", "volume", "pstn"}
)  # pstn on|off: route a Yealink B2K/B3G to its analogue line (on) or to USB (off)


class VocabularyError(ValueError):
    """A value outside the closed vocabulary."""


@dataclass(frozen=True)
class HandsetEvent:
    """Something a handset did: ``HandsetEvent("key", "5")``, ``HandsetEvent("hook", "off")``.

    ``t`` is seconds (monotonic clock, or seconds from trace start in a replay); ``message`` carries
    the text of a ``device error``.
    """

    kind: str
    value: str
    t: float = 0.0
    message: str = ""

    def __post_init__(self) -> None:
        allowed = EVENT_VALUES.get(self.kind)
        if allowed is None:
            raise VocabularyError(f"unknown handset event kind {self.kind!r}")
        if self.value not in allowed:
            raise VocabularyError(f"{self.kind} event cannot have value {self.value!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.t, 6), "event": self.kind, "value": self.value}
        if self.message:
            out["message"] = self.message
        return out

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


@dataclass(frozen=True)
class HandsetCommand:
    """Something a handset is told: ``HandsetCommand("led", "on", target="mute")``.

    kind/value pairs: ``ring on|off`` (``target`` = optional cadence name), ``ring_volume "0".."100"``,
    ``led on|off|blink`` with ``target`` = LED name, ``lcd <text>`` (``line`` optional), ``lcd_clear ""``,
    ``tone <name>``, ``speaker on|off``, ``volume "0".."100"``, ``pstn on|off`` (B2K/B3G line switch).
    """

    kind: str
    value: str = ""
    target: str = ""
    line: int | None = None

    def __post_init__(self) -> None:
        kind, value = self.kind, self.value
        if kind not in COMMAND_KINDS:
            raise VocabularyError(f"unknown handset command {kind!r}")
        if kind in ("ring", "speaker", "pstn") and value not in ON_OFF:
            raise VocabularyError(f"{kind} takes on|off, not {value!r}")
        if kind == "led":
            if self.target not in LEDS:
                raise VocabularyError(f"unknown LED {self.target!r} (known: {', '.join(sorted(LEDS))})")
            if value not in LED_STATES:
                raise VocabularyError(f"led takes on|off|blink, not {value!r}")
        if kind == "tone" and value not in TONES:
            raise VocabularyError(f"unknown tone {value!r} (known: {', '.join(sorted(TONES))})")
        if kind in ("ring_volume", "volume") and not (value.isdigit() and 0 <= int(value) <= 100):
            raise VocabularyError(f"{kind} takes 0-100, not {value!r}")

    @classmethod
    def parse(cls, words: list[str]) -> HandsetCommand:
        """Build a command from CLI words: ``ring on [cadence]``, ``led mute on``, ``lcd 5551234 [line]``."""
        if not words:
            raise VocabularyError("no command given")
        kind, rest = words[0], words[1:]
        if kind == "led":
            if len(rest) != 2:
                raise VocabularyError("usage: led NAME on|off|blink")
            return cls("led", rest[1], target=rest[0])
        if kind == "ring":
            if not rest:
                raise VocabularyError("usage: ring on|off [CADENCE]")
            return cls("ring", rest[0], target=rest[1] if len(rest) > 1 else "")
        if kind == "lcd":
            if not rest:
                raise VocabularyError("usage: lcd TEXT [LINE]")
            line = int(rest[1]) if len(rest) > 1 and rest[1].isdigit() else None
            return cls("lcd", rest[0], line=line)
        if kind == "lcd_clear":
            return cls("lcd_clear")
        if len(rest) != 1:
            raise VocabularyError(f"usage: {kind} VALUE")
        return cls(kind, rest[0])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command": self.kind, "value": self.value}
        if self.target:
            out["target"] = self.target
        if self.line is not None:
            out["line"] = self.line
        return out

    def __str__(self) -> str:
        parts = [self.kind, self.target, self.value]
        return " ".join(p for p in parts if p)


# --- Phone <-> call core --------------------------------------------------------------------------

CALL_COMMANDS = frozenset(
    {
        "dial",  # target = number or URI
        "answer",
        "hangup",  # also cancels an outgoing call
        "reject",  # code = 486 / 603 / ...
        "hold",
        "resume",
        "mute",
        "unmute",
        "dtmf",  # digits
        "transfer_blind",  # target
        "transfer_attended",  # call_id = the call to transfer, other_call_id = the consultation call
        "presence",  # value = available | busy | dnd
    }
)

CALL_EVENTS = frozenset(
    {
        "registration",  # value = registered | unregistered | failed; reason = server text
        "incoming",  # call_id, remote_number, remote_name
        "ringing",  # remote is ringing (180/183); early_media bool in extra
        "connected",
        "held",  # we held it (or remote held us: extra["by"] = "remote")
        "resumed",
        "ended",  # code + reason (e.g. 486 Busy Here, 487 Request Terminated, 200 BYE)
        "dtmf",  # value = digit received
        "transfer",  # value = accepted | succeeded | failed (our REFER); requested (the far end REFERs us)
        "presence",  # buddy state: value = state, remote_number
    }
)


@dataclass(frozen=True)
class CallCommand:
    """What the Phone asks of the call core."""

    kind: str
    call_id: int | None = None
    target: str = ""
    digits: str = ""
    code: int = 0
    other_call_id: int | None = None
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CALL_COMMANDS:
            raise VocabularyError(f"unknown call command {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", 0) or k == "kind"}


@dataclass(frozen=True)
class CallEvent:
    """What the call core reports to the Phone."""

    kind: str
    call_id: int | None = None
    value: str = ""
    remote_number: str = ""
    remote_name: str = ""
    code: int = 0
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CALL_EVENTS:
            raise VocabularyError(f"unknown call event {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v not in (None, "", 0, {}) or k == "kind"}
        return out

"""Shared helpers for table-driven drivers: event words, held-key tracking, stuck-key release, option checks.

An event word is what profiles and scan tables write: ``"key 5"``, ``"button pickup"``, ``"hook off"``.
``KeyTracker`` turns presses and releases of such words into ``key``/``key_up`` and ``button``/``button_up``
events, and releases a key held longer than ``stuck_after`` seconds (with a warning), so a lost release
report never leaves a key down forever. Keypads that report one key at a time (Yealink scan codes, CM109
matrix scans) use ``press_current``/``release_current``, which release the previous key first.

Edit this module when every keypad driver needs the same new behaviour.
"""

from __future__ import annotations

import logging
from typing import Any

from usbphone.events import EVENT_VALUES, HandsetEvent
from usbphone.profiles.schema import ProfileError

log = logging.getLogger(__name__)

PRESS_KINDS = {"key": "key_up", "button": "button_up"}
STUCK_AFTER = 30.0  # seconds a key may stay down before we assume its release report was lost


def parse_word(word: str) -> tuple[str, str]:
    """Split ``"button pickup"`` into (kind, value); raise ValueError when outside the vocabulary."""
    kind, _, value = word.strip().partition(" ")
    value = value.strip()
    if kind not in EVENT_VALUES or value not in EVENT_VALUES[kind]:
        raise ValueError(f"{word!r} is not an event of the vocabulary (e.g. 'key 5', 'button pickup', 'hook off')")
    return kind, value


def check_word(word: Any, where: str) -> str:
    if not isinstance(word, str):
        raise ProfileError(f"{where}: expected an event such as 'key 5', got {word!r}")
    try:
        parse_word(word)
    except ValueError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    return word


def parse_code(key: Any, where: str, *, hi: int = 0xFFFF) -> int:
    """A table key such as "0x1f" or "31" -> int."""
    try:
        code = int(str(key), 0)
    except ValueError:
        raise ProfileError(f"{where}: code {key!r} is not a number (write it like \"0x1f\")") from None
    if not 0 <= code <= hi:
        raise ProfileError(f"{where}: code {key!r} is outside 0..{hi:#x}")
    return code


def check_known(options: dict[str, Any], known: set[str] | frozenset[str], where: str) -> None:
    """Raise ProfileError naming the first option a driver does not know."""
    unknown = set(options) - set(known)
    if unknown:
        raise ProfileError(f"{where}: unknown option '{sorted(unknown)[0]}' (known: {', '.join(sorted(known))})")


def number_option(options: dict[str, Any], key: str, where: str, lo: float, hi: float) -> None:
    if key in options:
        val = options[key]
        if isinstance(val, bool) or not isinstance(val, int | float) or not lo <= val <= hi:
            raise ProfileError(f"{where}: '{key}' must be a number {lo}..{hi}, got {val!r}")


def choice_option(options: dict[str, Any], key: str, where: str, allowed: set[str] | frozenset[str]) -> None:
    if key in options and options[key] not in allowed:
        raise ProfileError(f"{where}: '{key}' must be one of {', '.join(sorted(allowed))}, got {options[key]!r}")


class KeyTracker:
    """Which key/button is held; press/release produce events, ``tick`` releases stuck keys."""

    def __init__(self, stuck_after: float = STUCK_AFTER) -> None:
        self.stuck_after = stuck_after
        self.held: dict[str, float] = {}  # word -> time pressed
        self.current: str | None = None  # the keypad key down, for keypads that report one key at a time

    def press(self, word: str, t: float) -> list[HandsetEvent]:
        kind, value = parse_word(word)
        if kind not in PRESS_KINDS:
            return [HandsetEvent(kind, value, t=t)]
        self.held[word] = t
        return [HandsetEvent(kind, value, t=t)]

    def release(self, word: str, t: float) -> list[HandsetEvent]:
        if self.held.pop(word, None) is None:
            return []
        kind, value = parse_word(word)
        return [HandsetEvent(PRESS_KINDS[kind], value, t=t)]

    def press_current(self, word: str, t: float) -> list[HandsetEvent]:
        """A one-key-at-a-time keypad reports ``word`` down: the previous key (if any) is released first."""
        events = self.release_current(t)
        self.current = word
        return events + self.press(word, t)

    def release_current(self, t: float) -> list[HandsetEvent]:
        word, self.current = self.current, None
        return self.release(word, t) if word is not None else []

    def release_all(self, t: float) -> list[HandsetEvent]:
        out: list[HandsetEvent] = []
        for word in list(self.held):
            out += self.release(word, t)
        return out

    def tick(self, t: float) -> list[HandsetEvent]:
        out: list[HandsetEvent] = []
        for word, since in list(self.held.items()):
            if t - since > self.stuck_after:
                log.warning("%s held for %.0f s: assuming its release was lost, releasing it", word, t - since)
                out += self.release(word, t)
        if self.current is not None and self.current not in self.held:
            self.current = None
        return out

"""Yealink scan-code tables: scan code -> event ("key 5", "button pickup") per model.

P1K and P4K scan codes are row (high nibble) and column (low nibble); the P1KH reports a key index;
B2K/B3G report digits from an on-board DTMF decoder. A profile can override or add entries with
``[options.keys]`` (``"0x05" = "button menu"``), so a new Yealink-compatible phone needs no code.

source: ../shared/protocols/usb-phone-protocols.md §2.6 (kernel yealink.c map_p1k_to_key; treitmayr/
yealink-module map_p4k_to_key, map_b2k_to_key, map_p1kh_to_key). Where a key has no word of its own in
the vocabulary, the choice is ours and says so (P4K DIAL/SEND -> pickup, HELP -> menu, DEL -> clear).
Edit this module when a model's table becomes known.
"""

from __future__ import annotations

NO_KEY = 0xFF  # source: §2.5 "Scancode 0xFF means no key"

P1K: dict[int, str] = {
    0x00: "key 1", 0x01: "key 2", 0x02: "key 3", 0x03: "button pickup", 0x04: "button out",
    0x10: "key 4", 0x11: "key 5", 0x12: "key 6", 0x13: "button hangup", 0x14: "button clear",
    0x20: "key 7", 0x21: "key 8", 0x22: "key 9", 0x23: "button in", 0x24: "button down",
    0x30: "key *", 0x31: "key 0", 0x32: "key #", 0x33: "button up",
}

# P1KH (G2): index 0x00-0x12 in order. source: §2.6 "P1KH (G2, module)".
P1KH: dict[int, str] = dict(enumerate((
    "key 1", "key 2", "key 3", "button pickup", "button out", "key 4", "key 5", "key 6", "button hangup",
    "button clear", "key 7", "key 8", "key 9", "button in", "button down", "key *", "key 0", "key #",
    "button up",
)))

P4K: dict[int, str] = {
    0x00: "button pickup",  # DIAL (our mapping)
    0x01: "key 3", 0x02: "key 6", 0x03: "key 9", 0x04: "key #",
    0x05: "button menu",  # HELP (our mapping)
    0x10: "button out", 0x11: "key 2", 0x12: "key 5", 0x13: "key 8", 0x14: "key 0", 0x15: "button flash",
    0x20: "button speaker",  # hands-free
    0x21: "key 1", 0x22: "key 4", 0x23: "key 7", 0x24: "key *",
    0x25: "button pickup",  # SEND (our mapping)
    0x30: "button down", 0x31: "button vol_up", 0x32: "button up",
    0x33: "button clear",  # DEL
    0x34: "button in", 0x40: "button vol_down", 0x44: "button redial",
}

# B2K/B3G: DTMF decoder digits. source: §2.6 "B2K/B3G" (0x0A is unassigned there).
B2K: dict[int, str] = {**{d: f"key {d}" for d in range(10)}, 0x0B: "key *", 0x0C: "key #"}

TABLES: dict[str, dict[int, str]] = {
    "p1k": P1K, "p1kh": P1KH, "p3k": P4K, "p4k": P4K, "v1k": P4K, "b1k": B2K, "b2k": B2K, "b3g": B2K,
    "t1k": P1K,
}


def table_for(model: str, overrides: dict[int, str] | None = None) -> dict[int, str]:
    """The scan table of ``model`` with a profile's overrides applied (an empty string removes a code)."""
    table = dict(TABLES.get(model, P1K))
    for code, word in (overrides or {}).items():
        if word:
            table[code] = word
        else:
            table.pop(code, None)
    return table

"""The Yealink USB-P1K LCD: a 24-byte segment buffer, its segment map and a 7-segment character set.

Line 3 is 12 full 7-segment digits (the number line); line 1 is 17 positions of date/time digits and
icons (format ``18.e8.M8.88...188``); line 2 is 9 icons (NEW, REP, weekdays). ``LcdBuffer`` turns
text into bytes; the driver sends only the bytes that differ from what the phone already shows.

source: ../shared/protocols/usb-phone-protocols.md §2.7 (kernel drivers/input/misc/yealink.h LCD map).
The character glyphs are the usual 7-segment shapes (the kernel's map_to_7segment.h default map draws
digits the same way); letters that 7 segments cannot draw show blank.
Edit this module when another model's LCD map becomes known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LCD_BYTES = 24  # source: §2.7 "The LCD is a 24-byte array"
SEGMENTS = "abcdegf"  # write order; tied segments (same byte and mask) take the last value, as the kernel does

Seg = dict[str, tuple[int, int]]  # segment letter -> (byte, mask)


def _digit8(even: int, odd: int) -> Seg:
    """Line 3 full digit. source: §2.7 line 3 table (a-d on the even byte 0x10..0x80, e/g/f on the odd)."""
    return {"a": (even, 0x10), "b": (even, 0x20), "c": (even, 0x40), "d": (even, 0x80),
            "e": (odd, 0x80), "g": (odd, 0x40), "f": (odd, 0x20)}


def _line1_8(lo: int, hi: int) -> Seg:
    """Line 1 full digit: a-d byte ``lo`` masks 1/2/4/8, e/g/f byte ``hi`` masks 4/2/1. source: §2.7 pos 2."""
    return {"a": (lo, 1), "b": (lo, 2), "c": (lo, 4), "d": (lo, 8), "e": (hi, 4), "g": (hi, 2), "f": (hi, 1)}


# Line 3: digit i (0 = leftmost) uses bytes 2*(11-i) (even) and 2*(11-i)+1 (odd). source: §2.7.
LINE3: tuple[Seg, ...] = tuple(_digit8(2 * (11 - i), 2 * (11 - i) + 1) for i in range(12))

# Line 1, 17 positions: a Seg for a digit, or (byte, mask) for an icon. source: §2.7 "Line 1" table.
LINE1: tuple[Seg | tuple[int, int], ...] = (
    {"b": (22, 0x02), "c": (22, 0x02)},  # 1 month tens ('1': b = c)
    _line1_8(20, 21),  # 2 month ones
    (22, 0x01),  # 3 icon "M"
    {"a": (18, 1), "d": (18, 1), "g": (18, 1), "b": (18, 2), "c": (18, 4), "e": (19, 2), "f": (19, 1)},  # 4 'e'
    _line1_8(16, 17),  # 5 day ones
    (15, 0x08),  # 6 icon "D"
    {"a": (14, 1), "d": (14, 1), "b": (14, 2), "c": (14, 4), "e": (15, 4), "g": (15, 2), "f": (15, 1)},  # 7 'M'
    _line1_8(12, 13),  # 8 hour
    (11, 0x08),  # 9 icon ":"
    _line1_8(10, 11),  # 10 minute tens
    _line1_8(8, 9),  # 11 minute ones
    (7, 0x01),  # 12 icon IN
    (7, 0x02),  # 13 icon OUT
    (7, 0x04),  # 14 icon STORE
    {"b": (5, 0x01), "c": (5, 0x01)},  # 15 '1'
    {"a": (4, 1), "b": (4, 2), "c": (4, 4), "d": (4, 8), "e": (5, 8), "g": (5, 4), "f": (5, 2)},  # 16 '8'
    _line1_8(2, 3),  # 17 '8'
)
LINE1_FORMAT = "18.e8.M8.88...188"  # source: §2.7 (kernel's line-1 format string)

# Line 2 icons. source: §2.7 "Line 2 icons" table.
ICONS: dict[str, tuple[int, int]] = {
    "NEW": (23, 0x02), "REP": (23, 0x04), "SU": (1, 0x08), "MO": (1, 0x04), "TU": (1, 0x02),
    "WE": (1, 0x01), "TH": (0, 0x01), "FR": (0, 0x02), "SA": (0, 0x04),
    # line-1 icons by name too, so `lcd IN,OUT 2` style commands can reach them
    "M": (22, 0x01), "D": (15, 0x08), ":": (11, 0x08), "IN": (7, 0x01), "OUT": (7, 0x02), "STORE": (7, 0x04),
}

# Usual 7-segment glyphs (segments a-g). Digits match the project's acceptance check table.
GLYPHS: dict[str, str] = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
    "7": "abc", "8": "abcdefg", "9": "abcdfg", " ": "", "-": "g", "_": "d", "*": "abfg", "#": "bcefg",
    "A": "abcefg", "B": "cdefg", "C": "adef", "D": "bcdeg", "E": "adefg", "F": "aefg", "G": "acdef",
    "H": "bcefg", "I": "ef", "J": "bcde", "L": "def", "N": "ceg", "O": "cdeg", "P": "abefg", "Q": "abcfg",
    "R": "eg", "S": "acdfg", "T": "defg", "U": "bcdef", "Y": "bcdfg", "=": "dg",
}


def glyph(ch: str) -> str:
    """Segments for one character (case-insensitive); unknown characters are blank."""
    return GLYPHS.get(ch.upper(), GLYPHS.get(ch, ""))


@dataclass
class LcdBuffer:
    """The 24 bytes the phone's LCD shows, built from text."""

    data: bytearray = field(default_factory=lambda: bytearray(LCD_BYTES))

    def _draw(self, seg: Seg, ch: str) -> None:
        on = set(glyph(ch))
        for name in SEGMENTS:
            if name not in seg:
                continue
            byte, mask = seg[name]
            if name in on:
                self.data[byte] |= mask
            else:
                self.data[byte] &= ~mask & 0xFF

    def _icon(self, where: tuple[int, int], on: bool) -> None:
        byte, mask = where
        if on:
            self.data[byte] |= mask
        else:
            self.data[byte] &= ~mask & 0xFF

    def set_line3(self, text: str) -> None:
        """The 12-digit number line: left-aligned, blank-padded; longer text shows its last 12 characters."""
        text = text[-12:].ljust(12)
        for seg, ch in zip(LINE3, text, strict=True):
            self._draw(seg, ch)

    def set_line1(self, text: str) -> None:
        """Line 1 in the kernel's format (17 positions); an icon position shows when its character is not blank."""
        text = text[:17].ljust(17)
        for where, ch in zip(LINE1, text, strict=True):
            if isinstance(where, tuple):
                self._icon(where, ch != " ")
            else:
                self._draw(where, ch)

    def set_icons(self, names: list[str]) -> list[str]:
        """Line 2: the named icons on, the other line-2 icons off. Returns names it does not know."""
        wanted = {n.upper() for n in names if n}
        unknown = sorted(wanted - set(ICONS))
        for name, where in ICONS.items():
            if name in ("NEW", "REP", "SU", "MO", "TU", "WE", "TH", "FR", "SA") or name in wanted:
                self._icon(where, name in wanted)
        return unknown

    def clear(self) -> None:
        self.data[:] = bytes(LCD_BYTES)


def changed_runs(old: bytes | None, new: bytes) -> list[tuple[int, bytes]]:
    """Runs of consecutive bytes where ``new`` differs from ``old`` (everything when ``old`` is unknown)."""
    if old is None:
        return [(0, bytes(new))]
    runs: list[tuple[int, bytes]] = []
    start = -1
    for i in range(len(new) + 1):
        differs = i < len(new) and old[i] != new[i]
        if differs and start < 0:
            start = i
        elif not differs and start >= 0:
            runs.append((start, bytes(new[start:i])))
            start = -1
    return runs

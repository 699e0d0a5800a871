"""Table-driven driver for simple HID devices whose input reports are event codes (e.g. the HP Internet Handset).

Everything device-specific is profile data::

    [options]
    report_length = 2          # optional: other lengths are dropped and counted
    code_byte = 1              # which byte of the report holds the code
    [options.codes]            # code = event, or a list of events: the first one that applies wins
    "0x07" = "key 1"           # a press (key/button) ...
    "0x05" = "key_up 1"        # ... and its release
    "0x40" = "hook on"         # levels: emitted only on a change
    "0x41" = ["button_up hangup", "hook off"]   # one code, two meanings: a release applies only while its
                                                # key is held, a hook level only when it is a change
    [options.output]           # optional: one output report of flag bits
    report_id = 0
    transport = "feature"      # feature | hidraw
    [options.output.leds]      # LED name = bit
    mute = 6
    [options.output.bits]      # other outputs: "speaker" = bit
    speaker = 0

``led NAME blink`` lights the LED and switches it every 0.5 s from ``poll`` (cadence.Blinker).

Edit this module only when a family of such devices needs a new kind of table entry.
"""

from __future__ import annotations

import logging
from typing import Any

from usbphone.drivers.base import Capabilities, Driver, OutputReport
from usbphone.drivers.cadence import Blinker
from usbphone.drivers.keystate import (
    PRESS_KINDS,
    KeyTracker,
    check_known,
    check_word,
    number_option,
    parse_code,
    parse_word,
)
from usbphone.events import LEDS, HandsetCommand, HandsetEvent
from usbphone.profiles.schema import ProfileError

log = logging.getLogger(__name__)

RELEASES = {up: down for down, up in PRESS_KINDS.items()}  # key_up -> key, button_up -> button
OPTIONS = {"report_length", "code_byte", "codes", "output", "stuck_key_timeout", "source"}
OUTPUT_KEYS = {"report_id", "transport", "leds", "bits"}


def _entries(value: Any, where: str) -> list[str]:
    words = value if isinstance(value, list) else [value]
    if not words:
        raise ProfileError(f"{where}: an empty list means nothing; remove the code instead")
    for word in words:
        if not isinstance(word, str):
            raise ProfileError(f"{where}: expected an event such as 'key 5', got {word!r}")
        kind, _, rest = word.partition(" ")
        check_word(f"{RELEASES.get(kind, kind)} {rest}", where)
    return list(words)


def _bits(table: Any, where: str, allowed: frozenset[str] | None) -> dict[str, int]:
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: must be a table of name = bit number")
    for name, bit in table.items():
        if allowed is not None and name not in allowed:
            raise ProfileError(f"{where}: unknown name {name!r} (known: {', '.join(sorted(allowed))})")
        if isinstance(bit, bool) or not isinstance(bit, int) or not 0 <= bit <= 7:
            raise ProfileError(f"{where}.{name}: bit must be 0-7, got {bit!r}")
    return dict(table)


class HidTableDriver(Driver):
    name = "hid_table"

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        check_known(options, OPTIONS, where)
        codes = options.get("codes")
        if not isinstance(codes, dict) or not codes:
            raise ProfileError(f"{where}: 'codes' (a table of code = event) is required")
        for code, value in codes.items():
            parse_code(code, f"{where} codes", hi=0xFF)
            _entries(value, f"{where} codes.{code}")
        number_option(options, "report_length", where, 1, 64)
        number_option(options, "code_byte", where, 0, 63)
        number_option(options, "stuck_key_timeout", where, 1.0, 3600.0)
        out = options.get("output", {})
        if not isinstance(out, dict) or set(out) - OUTPUT_KEYS:
            raise ProfileError(f"{where}: 'output' takes {', '.join(sorted(OUTPUT_KEYS))}")
        if out.get("transport", "feature") not in ("feature", "hidraw"):
            raise ProfileError(f"{where}: output.transport must be feature or hidraw")
        number_option(out, "report_id", f"{where} output", 0, 255)
        _bits(out.get("leds", {}), f"{where} output.leds", LEDS)
        _bits(out.get("bits", {}), f"{where} output.bits", frozenset({"speaker"}))

    def __init__(self, profile: Any, device: Any) -> None:
        super().__init__(profile, device)
        opt = self.options
        self.length = opt.get("report_length")
        self.code_byte = int(opt.get("code_byte", 0))
        self.codes = {parse_code(k, "codes"): _entries(v, "codes") for k, v in opt.get("codes", {}).items()}
        out = opt.get("output", {})
        self.report_id = out.get("report_id")
        self.out_transport = out.get("transport", "feature")
        self.led_bits: dict[str, int] = dict(out.get("leds", {}))
        self.other_bits: dict[str, int] = dict(out.get("bits", {}))
        self.flags = 0
        self.blinker = Blinker()
        self.keys = KeyTracker(float(opt.get("stuck_key_timeout", 30.0)))
        self.hook: str | None = None

    def capabilities(self) -> Capabilities:
        words = [w for ws in self.codes.values() for w in ws]
        kinds = {w.split(" ", 1)[0] for w in words}
        buttons = {w.split(" ", 1)[1] for w in words if w.startswith("button ")}
        return Capabilities(
            hook="hook" in kinds, hook_kind="absolute" if "hook" in kinds else "none", keypad="key" in kinds,
            buttons=buttons, leds=set(self.led_bits), speaker="speaker" in self.other_bits,
        )

    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        if (self.length is not None and len(report) != self.length) or len(report) <= self.code_byte:
            self.stats["bad_length"] += 1
            return []
        code = report[self.code_byte]
        words = self.codes.get(code)
        if words is None:
            self.stats["unknown_code"] += 1
            log.debug("hid_table: no entry for code 0x%02x", code)
            return []
        for word in words:
            kind, _, value = word.partition(" ")
            if kind in RELEASES:
                pressed = f"{RELEASES[kind]} {value}"
                if pressed in self.keys.held:
                    return self.keys.release(pressed, t)
            elif kind == "hook":
                if value != self.hook:
                    self.hook = value
                    return [HandsetEvent("hook", value, t=t)]
            else:
                parse_word(word)
                return self.keys.press(word, t)
        self.stats["ignored_code"] += 1  # e.g. a release whose press we never saw
        return []

    def tick(self, t: float) -> list[HandsetEvent]:
        return self.keys.tick(t)

    def read_timeout(self, t: float) -> float | None:
        waits = [w for w in (1.0 if self.keys.held else None, self.blinker.timeout(t)) if w is not None]
        return min(waits) if waits else None  # wake up only while a key is held (stuck keys) or an LED blinks

    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        if command.kind == "led" and command.target in self.led_bits:
            bit, on = self.led_bits[command.target], command.value != "off"
            self.blinker.stop(command.target)
            if command.value == "blink":
                self.blinker.start(command.target)  # lit now, switched from poll
        elif command.kind == "speaker" and "speaker" in self.other_bits:
            bit, on = self.other_bits["speaker"], command.value == "on"
        else:
            return []
        self._flag(bit, on)
        return [self._report()]

    def poll(self, t: float) -> list[OutputReport]:
        due = self.blinker.step(t)
        for name, lit in due.items():
            self._flag(self.led_bits[name], lit)
        return [self._report()] if due else []

    def stop(self) -> list[OutputReport]:
        self.blinker.stop()
        if not self.flags:
            return []
        self.flags = 0
        return [self._report()]

    def _flag(self, bit: int, on: bool) -> None:
        self.flags = self.flags | (1 << bit) if on else self.flags & ~(1 << bit)

    def _report(self) -> OutputReport:
        head = bytes([self.report_id]) if self.report_id is not None else b""
        return OutputReport(head + bytes([self.flags]), self.out_transport)

"""Line-oriented serial handsets (a microcontroller in an old phone on a USB serial port), described by the profile.

The transport hands over one received line per report (no line ending). The profile says what lines mean
and what to send::

    [options]
    baudrate = 115200
    newline = "\\n"                             # appended to every command template's output
    [[options.rx]]                             # first matching pattern wins; {1}, {2} = groups,
    pattern = '^KEY ([0-9*#])$'                #   {1:lower} = group 1 lower-cased
    event = "key {1}"
    [[options.rx]]
    pattern = '^HOOK (ON|OFF)$'
    event = "hook {1:lower}"
    [options.tx]                               # command templates: "<kind>_<value>" first, then "<kind>"
    ring_on = "RING 1"                         # placeholders: {value} {text} {name} {state} {line}
    ring_off = "RING 0"
    lcd = "LCD {text}"

``hook`` events are levels (emitted on a change; the first report on-hook is silent); ``key``/``button``
events pass through as the device sends them (a device that reports releases says ``key_up``).

Edit this module when the profile language for line protocols grows.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from usbphone.drivers.base import Capabilities, Driver, OutputReport
from usbphone.drivers.keystate import check_known, number_option, parse_word
from usbphone.events import COMMAND_KINDS, HandsetCommand, HandsetEvent
from usbphone.profiles.schema import ProfileError

log = logging.getLogger(__name__)

OPTIONS = {"baudrate", "newline", "rx", "tx", "encoding", "usb_serial", "source"}
_PLACE = re.compile(r"\{(\d+)(:lower|:upper)?\}")
TX_FIELDS = {"value", "text", "name", "state", "line", "target"}


def fill(template: str, match: re.Match[str]) -> str:
    """Put a regex match's groups into an event template ({1}, {1:lower}, {1:upper})."""

    def one(m: re.Match[str]) -> str:
        text = match.group(int(m.group(1))) or ""
        return text.lower() if m.group(2) == ":lower" else text.upper() if m.group(2) == ":upper" else text

    return _PLACE.sub(one, template)


class SerialLinesDriver(Driver):
    name = "serial_lines"

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        check_known(options, OPTIONS, where)
        rx = options.get("rx")
        if not isinstance(rx, list) or not rx:
            raise ProfileError(f"{where}: at least one [[options.rx]] (pattern, event) is required")
        for i, rule in enumerate(rx):
            here = f"{where} rx #{i + 1}"
            if not isinstance(rule, dict) or set(rule) != {"pattern", "event"}:
                raise ProfileError(f"{here}: needs exactly 'pattern' and 'event'")
            try:
                rx_re = re.compile(rule["pattern"])
            except re.error as exc:
                raise ProfileError(f"{here}: pattern is not a regular expression ({exc})") from None
            groups = {int(m.group(1)) for m in _PLACE.finditer(rule["event"])}
            if groups and max(groups) > rx_re.groups:
                raise ProfileError(f"{here}: event uses group {max(groups)} but the pattern has {rx_re.groups}")
            if not groups:
                try:
                    parse_word(rule["event"])
                except ValueError as exc:
                    raise ProfileError(f"{here}: {exc}") from None
        tx = options.get("tx", {})
        if not isinstance(tx, dict):
            raise ProfileError(f"{where}: [options.tx] must be a table of command templates")
        for key, template in tx.items():
            if key.split("_")[0] not in COMMAND_KINDS and key not in COMMAND_KINDS:
                raise ProfileError(f"{where}: tx.{key} is not a command (known: {', '.join(sorted(COMMAND_KINDS))})")
            if not isinstance(template, str):
                raise ProfileError(f"{where}: tx.{key} must be a string")
            bad = set(re.findall(r"\{(\w+)\}", template)) - TX_FIELDS
            if bad:
                known = ", ".join(sorted(TX_FIELDS))
                raise ProfileError(f"{where}: tx.{key} uses {{{sorted(bad)[0]}}}; known: {known}")
        number_option(options, "baudrate", where, 50, 4_000_000)
        if not isinstance(options.get("newline", "\n"), str):
            raise ProfileError(f"{where}: 'newline' must be a string")

    def __init__(self, profile: Any, device: Any) -> None:
        super().__init__(profile, device)
        opt = self.options
        self.rx = [(re.compile(r["pattern"]), r["event"]) for r in opt.get("rx", [])]
        self.tx: dict[str, str] = dict(opt.get("tx", {}))
        self.newline = opt.get("newline", "\n")
        self.encoding = opt.get("encoding", "utf-8")
        self.hook: str | None = None

    def capabilities(self) -> Capabilities:
        events = [e for _, e in self.rx]
        kinds = {e.split(" ", 1)[0] for e in events}
        buttons = {e.split(" ", 1)[1] for e in events if e.startswith("button ") and "{" not in e}
        return Capabilities(
            hook="hook" in kinds, hook_kind="absolute" if "hook" in kinds else "none", keypad="key" in kinds,
            buttons=buttons, ringer=any(k.startswith("ring") for k in self.tx),
            lcd=any(k.startswith("lcd") for k in self.tx), speaker=any(k.startswith("speaker") for k in self.tx),
        )

    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        line = report.decode(self.encoding, errors="replace").strip()
        if not line:
            return []
        for pattern, template in self.rx:
            m = pattern.search(line)
            if m is None:
                continue
            try:
                kind, value = parse_word(fill(template, m))
            except ValueError as exc:
                self.stats["bad_event"] += 1
                log.warning("serial line %r matched %r but %s", line, pattern.pattern, exc)
                return []
            if kind == "hook":
                return self._hook(value, t)
            return [HandsetEvent(kind, value, t=t)]
        self.stats["unmatched_line"] += 1
        log.debug("serial line %r matches no pattern", line)
        return []

    def _hook(self, value: str, t: float) -> list[HandsetEvent]:
        first = self.hook is None
        if value == self.hook:
            return []
        self.hook = value
        if first and value == "on":
            return []  # a device starts on hook: the first report sets state silently
        return [HandsetEvent("hook", value, t=t)]

    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        keys = [f"{command.kind}_{command.value}", command.kind]
        if command.kind == "led":
            keys = [f"led_{command.target}_{command.value}", f"led_{command.target}", *keys]
        template = next((self.tx[k] for k in keys if k in self.tx), None)
        if template is None:
            return []
        fields = {"value": command.value, "text": command.value, "name": command.target, "state": command.value,
                  "line": "" if command.line is None else str(command.line), "target": command.target}
        text = re.sub(r"\{(\w+)\}", lambda m: fields.get(m.group(1), m.group(0)), template)
        return [OutputReport((text + self.newline).encode(self.encoding, errors="replace"), "serial")]

"""C-Media CM109 USB phone driver: keypad row/column scanning, volume/mute bits, buzzer with a cadence.

Reports are 4 bytes each way, no report id. Input IR0 holds volume up/down and the two mute bits; IR1's
high nibble is the keypad row lines and its low nibble reads back the column lines we drive. Idle, all
four columns are driven (OR1 = OR2 = 0x0F); when the row nibble changes we drive one column at a time
(0x1, 0x2, 0x4, 0x8) and the whole IR1 byte of each answer is the scan code looked up in the keymap.
Output OR0 bit 5 sounds the buzzer (bits 7-6 = 00 keep OR1/OR2 as GPIO); it rides on every write.

``decode`` is self-describing: an IR1 low nibble of 0x0F is an idle report, a single column bit is a scan
answer, so a recorded trace replays without the host writes. Keymaps are profile data
(``[options.keymaps.<name>]``), chosen by ``keymap`` or per PID by ``keymap_by_pid``.

source: ../shared/protocols/usb-phone-protocols.md §3.2-3.4 (kernel drivers/input/misc/cm109.c).
Edit this module when the scanning or buzzer logic changes; keymaps belong in devices/cm109-*/profile.toml.
"""

from __future__ import annotations

import logging
from typing import Any

from usbphone.drivers import cadence as cad
from usbphone.drivers.base import Capabilities, Driver, OutputReport
from usbphone.drivers.keystate import KeyTracker, check_known, check_word, number_option, parse_code, parse_word
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.profiles.schema import ProfileError

log = logging.getLogger(__name__)

REPORT_LEN = 4  # source: §3.2 "4-byte reports, no report ID"
IDLE_COLUMNS = 0x0F  # source: §3.3 step 1 "OR1 = OR2 = 0x0F"
COLUMNS = (0x1, 0x2, 0x4, 0x8)  # source: §3.3 step 2
BUZZER = 0x20  # source: §3.2 "OR0 bit 5 = buzzer on"; bits 7-6 = 00 = GPO mapping
SCAN_TIMEOUT = 0.1  # our choice: re-drive a column when its answer does not come within 100 ms
# IR0 bits. source: §3.2 "IR0: bit 0 vol up, bit 1 vol down, bit 2 playback mute, bit 3 record (mic) mute";
# §3.3 step 5: the kernel auto-releases the two mute keys, i.e. they report a state, not a press.
DEFAULT_BUTTONS = {"0": "button vol_up", "1": "button vol_down", "3": "button mute"}
DEFAULT_TOGGLES = [2, 3]
OPTIONS = {
    "keymap", "keymaps", "keymap_by_pid", "buttons", "toggle_bits", "ring_cadence", "cadences",
    "stuck_key_timeout", "scan_timeout", "source",
}


def _keymap_table(table: Any, where: str) -> dict[int, str]:
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: a keymap is a table of \"0x11\" = \"key 3\"")
    return {parse_code(k, where, hi=0xFF): check_word(v, f"{where}.{k}") for k, v in table.items()}


class CM109Driver(Driver):
    name = "cm109"

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        check_known(options, OPTIONS, where)
        maps = options.get("keymaps", {})
        if not isinstance(maps, dict):
            raise ProfileError(f"{where}: 'keymaps' must be a table of keymap tables")
        for name, table in maps.items():
            _keymap_table(table, f"{where} keymaps.{name}")
        names = [options.get("keymap")] if "keymap" in options else []
        by_pid = options.get("keymap_by_pid", {})
        if not isinstance(by_pid, dict):
            raise ProfileError(f"{where}: 'keymap_by_pid' must be a table of \"0x000e\" = \"kip1000\"")
        for pid, name in by_pid.items():
            parse_code(pid, f"{where} keymap_by_pid")
            names.append(name)
        for name in names:
            if name not in maps:
                raise ProfileError(f"{where}: keymap {name!r} is not defined under [options.keymaps]")
        buttons = options.get("buttons", {})
        if not isinstance(buttons, dict):
            raise ProfileError(f"{where}: 'buttons' must be a table of IR0 bit = \"button vol_up\"")
        for bit, word in buttons.items():
            parse_code(bit, f"{where} buttons", hi=7)
            check_word(word, f"{where} buttons.{bit}")
        toggles = options.get("toggle_bits", [])
        if not isinstance(toggles, list) or not all(isinstance(b, int) and 0 <= b <= 7 for b in toggles):
            raise ProfileError(f"{where}: 'toggle_bits' must be a list of IR0 bit numbers 0-7")
        cad.validate(options, where)
        number_option(options, "stuck_key_timeout", where, 1.0, 3600.0)
        number_option(options, "scan_timeout", where, 0.01, 2.0)

    def __init__(self, profile: Any, device: Any) -> None:
        super().__init__(profile, device)
        opt = self.options
        maps = {n: _keymap_table(t, "keymaps") for n, t in opt.get("keymaps", {}).items()}
        by_pid = {parse_code(p, "keymap_by_pid"): n for p, n in opt.get("keymap_by_pid", {}).items()}
        # the profile's own choice first, then the default for this PID, then the first keymap listed
        self.keymap_name = opt.get("keymap") or by_pid.get(device.pid) or next(iter(maps), "")
        self.keymap = maps.get(self.keymap_name, {})
        self.buttons = {int(b, 0): w for b, w in opt.get("buttons", DEFAULT_BUTTONS).items()}
        self.toggles = set(opt.get("toggle_bits", DEFAULT_TOGGLES))
        self.ringer = cad.Ringer(opt)
        self.scan_timeout = float(opt.get("scan_timeout", SCAN_TIMEOUT))
        self.keys = KeyTracker(float(opt.get("stuck_key_timeout", 30.0)))
        self.ir0: int | None = None
        self.rows: int | None = None
        self.found = False
        self.next_write: int | None = None  # column value to drive next (IDLE_COLUMNS = back to idle)
        self.awaiting: tuple[int, float | None] | None = None
        self.driven = IDLE_COLUMNS
        self.retries = 0

    def capabilities(self) -> Capabilities:
        words = list(self.keymap.values()) + list(self.buttons.values())
        buttons = {w.split(" ", 1)[1] for w in words if w.startswith("button ")}
        return Capabilities(
            hook=False, hook_kind="none", keypad=bool(self.keymap), buttons=buttons, ringer=True,
            notes=[f"keymap {self.keymap_name or '(none)'}"],
        )

    # -- output reports ----------------------------------------------------------------------------
    def _report(self, columns: int, timed: bool = False) -> OutputReport:
        """OR0 (buzzer bit), OR1 = GPO values, OR2 = GPIO direction (same columns), OR3 = 0."""
        self.driven = columns
        or0 = BUZZER if self.ringer.sounding else 0x00
        return OutputReport(bytes([or0, columns, columns, 0x00]), "control", timed=timed)

    def start(self) -> list[OutputReport]:
        return [self._report(IDLE_COLUMNS)]

    def stop(self) -> list[OutputReport]:
        self.ringer.set(False)
        self.ringer.sounding = False
        return [self._report(IDLE_COLUMNS)]

    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        if command.kind != "ring":
            return []  # no LEDs, LCD or hands-free on these phones (§3.2: the outputs are GPIO and the buzzer)
        self.ringer.set(command.value == "on", command.target)
        self.ringer.sounding = self.ringer.ringing
        return [self._report(self.driven)]

    # -- the scan loop -----------------------------------------------------------------------------
    def poll(self, t: float) -> list[OutputReport]:
        out: list[OutputReport] = []
        want = self.ringer.step(t)
        if want is not None:
            self.ringer.sounding = want
            out.append(self._report(self.driven, timed=True))  # a cadence step of `ring on`
        if self.awaiting is not None:
            column, sent = self.awaiting
            if sent is None:
                self.awaiting = (column, t)
                return out
            if t - sent < self.scan_timeout:
                return out
            self.stats["scan_timeout"] += 1
            self.retries += 1
            self.awaiting = None
            self.next_write = column if self.retries <= 3 else IDLE_COLUMNS
        if self.next_write is not None:
            column, self.next_write = self.next_write, None
            if column != IDLE_COLUMNS:
                self.awaiting = (column, t)
            else:
                self.retries = 0
            out.append(self._report(column))
        return out

    def read_timeout(self, t: float) -> float | None:
        if self.awaiting is not None or self.next_write is not None or self.ringer.ringing:
            return 0.02
        return 0.5  # idle: the phone reports row changes by itself; wake up now and then for stuck keys

    def tick(self, t: float) -> list[HandsetEvent]:
        return self.keys.tick(t)

    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        if len(report) != REPORT_LEN:
            self.stats["bad_length"] += 1
            return []
        self.stats["reports"] += 1
        events = self._buttons(report[0], t)
        ir1 = report[1]
        rows, columns = ir1 & 0xF0, ir1 & 0x0F
        if columns in COLUMNS:
            return events + self._scan_answer(ir1, rows, columns, t)
        if self.rows is None:
            self.rows = rows  # the first report sets state silently
            return events
        if rows != self.rows:
            self.rows = rows
            if rows:
                self.found, self.next_write, self.retries = False, COLUMNS[0], 0  # source: §3.3 step 2
            else:
                events += self.keys.release_current(t)
        return events

    def _scan_answer(self, ir1: int, rows: int, column: int, t: float) -> list[HandsetEvent]:
        events: list[HandsetEvent] = []
        if self.awaiting is not None and self.awaiting[0] == column:
            self.awaiting = None
        if rows:
            word = self.keymap.get(ir1)  # source: §3.3 step 3, the whole IR1 byte is the scan code
            if word is None:
                self.stats["unknown_scancode"] += 1
                log.info("cm109: scan code 0x%02x is not in keymap %s", ir1, self.keymap_name)
            elif not self.found:
                self.found = True
                if word != self.keys.current:
                    events += self.keys.press_current(word, t)
        if column == COLUMNS[-1]:
            if not self.found:
                events += self.keys.release_current(t)
            self.next_write = IDLE_COLUMNS  # source: §3.3 step 4, back to 0x0F after column 0x8
            self.rows = rows if self.rows is None else self.rows
        else:
            self.next_write = column << 1
        return events

    def _buttons(self, ir0: int, t: float) -> list[HandsetEvent]:
        old, self.ir0 = self.ir0, ir0
        if old is None:
            return []
        events: list[HandsetEvent] = []
        for bit, word in sorted(self.buttons.items()):
            mask = 1 << bit
            if (old ^ ir0) & mask == 0:
                continue
            if bit in self.toggles:
                kind, value = parse_word(word)
                events.append(HandsetEvent(kind, value, t=t))  # a state bit: each change is one press
            elif ir0 & mask:
                events += self.keys.press(word, t)
            else:
                events += self.keys.release(word, t)
        return events

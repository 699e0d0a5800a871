"""Hook switch, rotary dial and buttons wired to a serial adapter's modem-control lines (CTS, DSR, DCD, RI).

The transport reports the line levels as one byte whenever they change (and now and then unchanged, as a
clock tick): bit 0 CTS, bit 1 DSR, bit 2 DCD, bit 3 RI (``LINE_BITS``). The driver debounces each line
(a level counts once it held ``debounce`` seconds; its edge time is kept), turns the hook line into
``hook off/on``, counts rotary-dial pulses (short breaks of the hook loop while off hook) into ``key N``,
reports a longer break as ``button flash``, and maps other lines to buttons/keys. Optionally it drives
RTS or DTR as a ringer (``ring_line``), switched by a cadence.

Pulse dialling timings (defaults, profile-tunable): 10 pulses/s with a 60 ms break and 40 ms make per
pulse (so a break of up to 100 ms is a pulse), a pause of at least 200 ms between digits (we wait 300 ms),
10 pulses = digit 0; a hook-flash break of 100-600 ms; longer is hanging up. source: the usual
loop-disconnect dialling figures (e.g. ITU-T Q.23 era practice, ETSI ES 201 187 "Loop disconnect
dialling": 10 pps, make/break ratio 33/67 to 40/60, inter-digit pause > 200 ms) - see devices/serial-*/NOTES.md.

Edit this module when line-state logic changes; the port itself lives in usbphone/hid/serial.py.
"""

from __future__ import annotations

import logging
from typing import Any

from usbphone.drivers import cadence as cad
from usbphone.drivers.base import Capabilities, Driver, OutputReport
from usbphone.drivers.keystate import KeyTracker, check_known, check_word, choice_option, number_option
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.profiles.schema import ProfileError

log = logging.getLogger(__name__)

LINE_BITS = {"CTS": 0x01, "DSR": 0x02, "DCD": 0x04, "RI": 0x08}
OUT_BITS = {"RTS": 0x01, "DTR": 0x02}
DEFAULTS = {
    "debounce": 0.010,  # contact bounce on hook switches and dial contacts lasts a few ms
    "pulse_break_max": 0.100,  # 10 pps: break ~60-67 ms; allow up to 100 ms
    "interdigit": 0.300,  # pause between digits is > 200 ms (typically 500-800 ms)
    "flash_max": 0.600,  # a hook flash is ~100-600 ms; a longer break is hanging up
}
OPTIONS = {"lines", "hook_asserted", "pulse_dialing", "flash", "ring_line", "ring_cadence", "cadences",
           "usb_serial", "source", *DEFAULTS}


class SerialModemDriver(Driver):
    name = "serial_modem"

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        check_known(options, OPTIONS, where)
        lines = options.get("lines")
        if not isinstance(lines, dict) or not lines:
            raise ProfileError(f"{where}: 'lines' (e.g. DCD = \"hook\", CTS = \"button flash\") is required")
        for name, role in lines.items():
            if name not in LINE_BITS:
                raise ProfileError(f"{where}: lines.{name}: not a modem input line ({', '.join(LINE_BITS)})")
            if role != "hook":
                check_word(role, f"{where} lines.{name}")
        if list(lines.values()).count("hook") > 1:
            raise ProfileError(f"{where}: only one line can be the hook switch")
        choice_option(options, "hook_asserted", where, {"off", "on"})
        choice_option(options, "ring_line", where, set(OUT_BITS))
        for key in DEFAULTS:
            number_option(options, key, where, 0.001, 5.0)
        for key in ("pulse_dialing", "flash"):
            if not isinstance(options.get(key, True), bool):
                raise ProfileError(f"{where}: '{key}' must be true or false")
        cad.validate(options, where)

    def __init__(self, profile: Any, device: Any) -> None:
        super().__init__(profile, device)
        opt = self.options
        self.lines: dict[str, str] = dict(opt.get("lines", {}))
        self.hook_line = next((n for n, r in self.lines.items() if r == "hook"), "")
        self.asserted_is_off = opt.get("hook_asserted", "off") == "off"
        self.pulse_dialing = bool(opt.get("pulse_dialing", True))
        self.flash = bool(opt.get("flash", True))
        self.t = {k: float(opt.get(k, v)) for k, v in DEFAULTS.items()}
        self.ring_bit = OUT_BITS.get(opt.get("ring_line", ""), 0)
        self.ringer = cad.Ringer(opt)
        self.keys = KeyTracker(3600.0)
        self.level: dict[str, bool] = {}  # accepted (debounced) level per line
        self.pending: dict[str, tuple[bool, float]] = {}  # raw level waiting out the debounce, with edge time
        self.hook: str | None = None
        self.break_since: float | None = None
        self.pulses = 0
        self.last_make = 0.0

    def capabilities(self) -> Capabilities:
        roles = list(self.lines.values())
        buttons = {r.split(" ", 1)[1] for r in roles if r.startswith("button ")}
        return Capabilities(
            hook=bool(self.hook_line), hook_kind="absolute" if self.hook_line else "none",
            keypad=self.pulse_dialing and bool(self.hook_line) or any(r.startswith("key ") for r in roles),
            buttons=buttons | ({"flash"} if self.flash else set()),
            ringer=bool(self.ring_bit), notes=["rotary pulse dialling"] if self.pulse_dialing else [],
        )

    # -- input -------------------------------------------------------------------------------------
    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        if len(report) != 1:
            self.stats["bad_length"] += 1
            return []
        events = self.tick(t)
        for name in self.lines:
            raw = bool(report[0] & LINE_BITS[name])
            if name not in self.level:
                self.level[name] = raw  # first report: state, silently (a lifted handset says hook off)
                events += self._first(name, raw, t)
                continue
            pend = self.pending.get(name)
            if raw == self.level[name]:
                if pend is not None:
                    self.stats["bounces"] += 1
                    del self.pending[name]  # it went back before the debounce time: a bounce
            elif pend is None or pend[0] != raw:
                self.pending[name] = (raw, t)
        return events + self._settle(t)

    def tick(self, t: float) -> list[HandsetEvent]:
        return self._settle(t) + self._timers(t)

    def read_timeout(self, t: float) -> float | None:
        if self.pending or self.pulses or self.break_since is not None or self.ringer.ringing:
            return 0.005
        return 0.5

    def _first(self, name: str, raw: bool, t: float) -> list[HandsetEvent]:
        role = self.lines[name]
        if role == "hook":
            self.hook = "off" if raw == self.asserted_is_off else "on"
            return [HandsetEvent("hook", "off", t=t)] if self.hook == "off" else []
        return self.keys.press(role, t) if raw else []

    def _settle(self, t: float) -> list[HandsetEvent]:
        events: list[HandsetEvent] = []
        for name, (raw, since) in sorted(self.pending.items(), key=lambda kv: kv[1][1]):
            if t - since < self.t["debounce"]:
                continue
            del self.pending[name]
            self.level[name] = raw
            role = self.lines[name]
            if role == "hook":
                events += self._timers(since) + self._hook_edge(raw == self.asserted_is_off, since)
            elif raw:
                events += self.keys.press(role, since)
            else:
                events += self.keys.release(role, since)
        return events

    def _hook_edge(self, closed: bool, t: float) -> list[HandsetEvent]:
        """The hook loop closed (off hook) or opened at ``t`` (debounced edge time)."""
        if self.hook == "on":
            if closed:
                self.hook = "off"
                return [HandsetEvent("hook", "off", t=t)]
            return []
        if not closed:
            self.break_since = t
            return []
        if self.break_since is None:
            return []
        width, self.break_since = t - self.break_since, None
        if self.pulse_dialing and width <= self.t["pulse_break_max"]:
            self.pulses += 1
            self.last_make = t
            return []
        self.pulses = 0
        return [HandsetEvent("button", "flash", t=t)] if self.flash else []

    def _timers(self, t: float) -> list[HandsetEvent]:
        events: list[HandsetEvent] = []
        if self.pulses and self.break_since is None and t - self.last_make >= self.t["interdigit"]:
            if self.pulses > 10:
                self.stats["bad_pulse_count"] += 1
                log.warning("rotary dial: %d pulses is not a digit; ignored", self.pulses)
            else:
                events.append(HandsetEvent("key", str(self.pulses % 10), t=self.last_make))
            self.pulses = 0
        if self.break_since is not None and t - self.break_since > self.t["flash_max"]:
            self.hook, self.break_since, self.pulses = "on", None, 0
            events.append(HandsetEvent("hook", "on", t=t))
        return events

    # -- ringer ------------------------------------------------------------------------------------
    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        if command.kind != "ring" or not self.ring_bit:
            return []
        self.ringer.set(command.value == "on", command.target)
        return [self._lines(self.ringer.ringing)]

    def poll(self, t: float) -> list[OutputReport]:
        want = self.ringer.step(t)
        return [] if want is None else [self._lines(want)]

    def stop(self) -> list[OutputReport]:
        self.ringer.set(False)
        return [self._lines(False)] if self.ring_bit else []

    def _lines(self, on: bool) -> OutputReport:
        """One byte of output line levels for the serial transport: bit 0 RTS, bit 1 DTR."""
        self.ringer.sounding = on
        return OutputReport(bytes([self.ring_bit if on else 0]), "serial")

"""Yealink outputs: LCD text, ringer with cadence, LEDs, dial tone, backlight, speaker, PSTN switch.

A mixin of YealinkDriver (yealink.py): ``encode`` returns exactly the packets to write; ``_timed_outputs``
gives the cadence/blink steps the driver's ``poll`` writes; ``stop`` the goodbye writes. It uses the
driver's ``gen``, ``active_model``, ``options`` and ``pstn_ring``.

source: ../shared/protocols/usb-phone-protocols.md §2.4 (command table), §2.7 (LCD), and the B2K LED bytes of
../shared/hid-data/raw/yealink_usb-b2k-b3g_6993-b001.g1-ctl-packets.hex. Edit when an output changes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from usbphone.drivers import cadence as cad
from usbphone.drivers import yealink_proto as yp
from usbphone.drivers.base import OutputReport
from usbphone.drivers.yealink_lcd import ICONS, LcdBuffer, changed_runs
from usbphone.events import HandsetCommand

log = logging.getLogger(__name__)

P1KH_RING_REFRESH = 15.0  # source: §2.4 RINGTONE "P1KH 0xFF = on (it stops by itself after about 20 s)"
LCD_MODELS = {"p1k", "p1kh", "p3k", "p4k", "v1k", "t1k"}  # source: §2.4 LCD "P1K(H), P4K"
MELODY_MODELS = {"p1k", "p1kh", "t1k"}  # RINGTONE 0x03 plays the phone's own ring notes (§2.4, §2.8)
SWITCH_RING_MODELS = {"b1k", "b2k", "b3g"}  # B2K_RING 0x01, cadence made by switching (§2.4)
DIALTONE_MODELS = {"b1k", "b2k", "b3g", "p3k", "p4k", "v1k"}  # source: §2.4 DIALTONE
P4K_LIKE = {"p3k", "p4k", "v1k"}  # backlight 0x12, speaker 0x0C (§2.4)
PSTN_MODELS = {"b2k", "b3g"}
LED_POLARITY = {"on_is_1": (1, 0), "on_is_0": (0, 1)}


class YealinkOutputs:
    """Output state and packets; mixed into YealinkDriver."""

    gen: int
    options: dict[str, Any]
    pstn_ring: bool
    led_names: set[str]

    @property
    def active_model(self) -> str:  # provided by YealinkDriver
        raise NotImplementedError

    def _init_outputs(self, opt: dict[str, Any]) -> None:
        self.led_on, self.led_off = LED_POLARITY[opt.get("led_polarity", "on_is_1")]
        self.led_names = set(opt.get("led_names", ["ring", "message", "on_line", "off_hook"]))
        self.ringer = cad.Ringer(opt)
        self.blinker = cad.Blinker()  # the protocol has no blink command (§2.4): switched from poll
        self.lcd = LcdBuffer()
        self.lcd_sent: bytes | None = None
        self.led = False
        self.pstn = False

    def _pkt(self, cmd: int, data: bytes = b"", *, size: int | None = None, offset: int = 0) -> OutputReport:
        return OutputReport(yp.build(self.gen, cmd, data, size=size, offset=offset), "control")

    def stop(self) -> list[OutputReport]:
        out: list[OutputReport] = []
        m = self.active_model
        if self.ringer.ringing or self.ringer.sounding:
            out += self._ringer(False)
        if m in DIALTONE_MODELS:
            out.append(self._pkt(yp.CMD_DIALTONE, b"\x00"))
        if m in PSTN_MODELS:
            self.pstn = True  # source: §2.4 PSTN_SWITCH "recommended state at exit is PSTN"
            out.append(self._pkt(yp.CMD_PSTN_SWITCH, b"\x01"))
        self.led = False
        self.blinker.stop()
        out.append(self._led_packet(False))
        self.ringer.set(False)
        return out

    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        kind, value, m = command.kind, command.value, self.active_model
        if kind == "lcd":
            return self._lcd_text(value, command.line) if m in LCD_MODELS else []
        if kind == "lcd_clear":
            self.lcd.clear()
            return self._lcd_flush() if m in LCD_MODELS else []
        if kind == "ring":
            return self._ring(value == "on", command.target)
        if kind == "ring_volume" and m in MELODY_MODELS:
            return [self._pkt(yp.CMD_RING_VOLUME, bytes([int(value) * 255 // 100]))]  # §2.4 RING_VOLUME 0-255
        if kind == "led":
            return self._led_command(command.target, value)
        if kind == "speaker" and m in P4K_LIKE:
            return [self._pkt(yp.CMD_SPEAKER, bytes([value == "on"]))]
        if kind == "tone" and value in ("dial", "off") and (m in DIALTONE_MODELS or self.options.get("dialtone")):
            return [self._pkt(yp.CMD_DIALTONE, bytes([value == "dial"]))]
        if kind == "pstn" and m in PSTN_MODELS:
            self.pstn = value == "on"
            # source: §2.4 PSTN_SWITCH "data[0] 0 = USB, 1 = PSTN"; the LED bytes depend on it (module)
            return [self._pkt(yp.CMD_PSTN_SWITCH, bytes([self.pstn])), self._led_packet(self.led)]
        return []

    def _lcd_text(self, text: str, line: int | None) -> list[OutputReport]:
        if line in (None, 3):
            self.lcd.set_line3(text)
        elif line == 1:
            self.lcd.set_line1(text)
        elif line == 2:
            words = text.replace(",", " ").split()
            if words and not any(w.upper() in ICONS for w in words):
                # the Phone's line-2 status text (call timer, "DND", a waiting caller): line 2 here is icons only
                # (§2.7), so it cannot be shown; was a warning on every call-timer tick
                log.debug("yealink: LCD line 2 holds icons, not text: %r not shown", text)
                return []
            unknown = self.lcd.set_icons(words)
            if unknown:
                log.warning("yealink: no LCD icon named %s", ", ".join(unknown))
        else:
            log.warning("yealink: the LCD has lines 1-3, not %s", line)
            return []
        return self._lcd_flush()

    def _lcd_flush(self) -> list[OutputReport]:
        new = bytes(self.lcd.data)
        out = []
        for offset, values in changed_runs(self.lcd_sent, new):
            out += [OutputReport(p, "control") for p in yp.lcd_packets(self.gen, offset, values)]
        self.lcd_sent = new
        return out

    def _ring(self, on: bool, cadence_name: str) -> list[OutputReport]:
        m = self.active_model
        if m not in MELODY_MODELS | SWITCH_RING_MODELS:
            return []  # the P4K has no buzzer: it rings through its speaker (audio), §2.4 SPEAKER
        self.ringer.set(on, cadence_name)
        return self._ringer(on)

    def _ringer(self, on: bool) -> list[OutputReport]:
        self.ringer.sounding = on
        m = self.active_model
        if m in SWITCH_RING_MODELS:
            return [self._pkt(yp.CMD_B2K_RING, bytes([on]))]  # source: §2.4 B2K_RING data[0] 1/0
        # source: §2.4 RINGTONE "P1K 0x24 = on, 0 = off; P1KH 0xFF = on"
        level = (0xFF if m == "p1kh" else 0x24) if on else 0
        return [self._pkt(yp.CMD_RINGTONE, bytes([level]))]

    def _led_command(self, name: str, state: str) -> list[OutputReport]:
        m = self.active_model
        if name == "backlight" and m in P4K_LIKE:
            return [self._pkt(yp.CMD_LCD_BACKLIGHT, bytes([state != "off"]))]
        if name not in self.led_names:
            return []
        self.led = state != "off"
        self.blinker.stop()
        if state == "blink":
            self.blinker.start("led")  # one LED packet carries them all
        return [self._led_packet(self.led)]

    def _led_packet(self, on: bool) -> OutputReport:
        if self.active_model in PSTN_MODELS:
            # source: ../shared/hid-data/raw/yealink_usb-b2k-b3g_6993-b001.g1-ctl-packets.hex LEDS_* lines
            # (ToxPhone): offset low byte = ~USB, data = USB, PSTN, ~PSTN; the PSTN LED shows PSTN mode or
            # PSTN ringing and the USB LED is off in PSTN mode (treitmayr/yealink-module prepare_update_cmd).
            usb = 0xFF if on and not self.pstn else 0
            pstn = 0xFF if self.pstn or self.pstn_ring else 0
            return self._pkt(yp.CMD_LED, bytes([usb, pstn, pstn ^ 0xFF]), size=2, offset=usb ^ 0xFF)
        # source: §2.4 LED; the polarity is the profile's led_polarity (the sources disagree)
        return self._pkt(yp.CMD_LED, bytes([self.led_on if on else self.led_off]), size=1)

    def _timed_outputs(self, t: float) -> list[OutputReport]:
        """Ring cadence steps, P1KH ring refresh and LED blinking, written from the poll loop."""
        out: list[OutputReport] = []
        if self.active_model in SWITCH_RING_MODELS:
            want = self.ringer.step(t)
            if want is not None:
                out += self._ringer(want)
        elif self.active_model == "p1kh" and self.ringer.ringing and self.ringer.elapsed(t) >= P1KH_RING_REFRESH:
            self.ringer.start = t
            out += self._ringer(True)
        for lit in self.blinker.step(t).values():
            self.led = lit
            out.append(self._led_packet(lit))
        return [replace(o, timed=True) for o in out]  # steps of a `ring on` / `led X blink` (logged as its writes)

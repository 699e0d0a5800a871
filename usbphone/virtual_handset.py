"""The virtual handset: the terminal acts as a handset when no USB handset is attached (`usbphone run`).

Keys (no Enter needed): space = lift/hang up, 0-9 * # = keypad, m = mute, f = flash, r = redial,
p = pickup, h = hang-up key, x = reject, c or Backspace = clear, t = transfer, d = DND, s = speaker,
+ / - = volume, q = quit. What a real handset would show (LCD lines, ringer, tone, LEDs) is kept on one
status line that is redrawn in place. A reader thread only turns key presses into HandsetEvents and hands
them to ``emit`` (the app's queue); ``send`` is called from the app's thread.

Edit this module to change the terminal keys or the status line.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import TextIO

from usbphone.drivers.base import Capabilities
from usbphone.events import BUTTONS, KEYS, LEDS, HandsetCommand, HandsetEvent

BUTTON_KEYS = {
    "m": "mute", "f": "flash", "r": "redial", "p": "pickup", "h": "hangup", "x": "reject", "c": "clear",
    "\x7f": "clear", "\b": "clear", "t": "transfer", "d": "dnd", "s": "speaker", "+": "vol_up", "-": "vol_down",
}
HELP = ("keys: space = lift/hang up, 0-9 * # = dial, m = mute, f = flash/hold, r = redial, p = pickup, "
        "x = reject, c = clear, t = transfer, d = DND, s = speaker, +/- = volume, q = quit")


def decode_key(ch: str, hook_off: bool) -> HandsetEvent | None:
    """One key press → the HandsetEvent it stands for (None for unknown keys and for q)."""
    if ch == " ":
        return HandsetEvent("hook", "on" if hook_off else "off", t=time.monotonic())
    if ch in KEYS and not ch.isalpha():
        return HandsetEvent("key", ch, t=time.monotonic())
    name = BUTTON_KEYS.get(ch.lower() if ch.isalpha() else ch)
    if name in BUTTONS:
        return HandsetEvent("button", name, t=time.monotonic())
    return None


class Display:
    """What the handset shows, built from HandsetCommands; ``line()`` renders it."""

    def __init__(self) -> None:
        self.lcd: dict[int, str] = {}
        self.ring = "off"
        self.tone = "off"
        self.leds: set[str] = set()
        self.volume = ""
        self.speaker = "off"

    def apply(self, cmd: HandsetCommand) -> None:
        if cmd.kind == "lcd":
            self.lcd[cmd.line or 1] = cmd.value
        elif cmd.kind == "lcd_clear":
            self.lcd.clear()
        elif cmd.kind == "ring":
            self.ring = cmd.value
        elif cmd.kind == "tone":
            self.tone = cmd.value
        elif cmd.kind == "led":
            (self.leds.discard if cmd.value == "off" else self.leds.add)(cmd.target)
        elif cmd.kind == "volume":
            self.volume = cmd.value
        elif cmd.kind == "speaker":
            self.speaker = cmd.value

    def line(self, hook_off: bool) -> str:
        lcd = " | ".join(t for _, t in sorted(self.lcd.items()) if t) or " "
        parts = [f"[{lcd:^20}]", "OFF HOOK" if hook_off else "on hook"]
        if self.ring == "on":
            parts.append("RINGING")
        if self.tone != "off":
            parts.append(f"tone:{self.tone}")
        if self.speaker == "on":
            parts.append("SPEAKER")
        leds = sorted(self.leds & LEDS)
        if leds:
            parts.append("leds:" + ",".join(leds))
        return "  ".join(parts)


class VirtualHandset:
    """A handset made of the terminal. ``start``/``stop`` from the app's thread; ``emit`` gets events."""

    name = "virtual handset (terminal)"

    def __init__(self, emit: Callable[[HandsetEvent], None], on_quit: Callable[[], None],
                 stdin: TextIO | None = None, out: TextIO | None = None) -> None:
        self.emit, self.on_quit = emit, on_quit
        self.stdin = stdin or sys.stdin
        self.out = out or sys.stdout
        self.display = Display()
        self.hook_off = False
        self._saved: list | None = None  # type: ignore[type-arg]
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @staticmethod
    def capabilities() -> Capabilities:
        return Capabilities(hook=True, hook_kind="absolute", keypad=True, buttons=set(BUTTON_KEYS.values()),
                            leds=set(LEDS), ringer=True, lcd=True, speaker=True)

    def start(self) -> None:
        fd = self.stdin.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keys arrive one by one, unechoed; output processing stays on
        self._thread = threading.Thread(target=self._loop, name="virtual-handset", daemon=True)
        self._thread.start()
        self.message(HELP)

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(2.0)
            self._thread = None
        if self._saved is not None:
            termios.tcsetattr(self.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None
            self.out.write("\n")
            self.out.flush()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, cmd: HandsetCommand) -> None:
        self.display.apply(cmd)
        self._redraw()

    def message(self, text: str) -> None:
        with self._lock:
            self.out.write("\r\x1b[2K" + text + "\n")
        self._redraw()

    def _redraw(self) -> None:
        with self._lock:
            self.out.write("\r\x1b[2K" + self.display.line(self.hook_off))
            self.out.flush()

    def _loop(self) -> None:
        fd = self.stdin.fileno()
        while True:
            ready, _, _ = select.select([fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            data = os.read(fd, 32)
            if not data:
                self.on_quit()
                return
            for ch in data.decode(errors="ignore"):
                if ch in "qQ\x04":
                    self.on_quit()
                    return
                event = decode_key(ch, self.hook_off)
                if event is None:
                    continue
                if event.kind == "hook":
                    self.hook_off = event.value == "off"
                    self._redraw()
                self.emit(event)

"""Yealink USB-P1K family driver (P1K, P1KH, P4K, B2K, B3G): key polling, hook, LCD, ringer, LEDs.

G1 phones (16-byte packets) answer one request at a time: VERSION (model), INIT (serial number), then a
loop of KEYPRESS (a key-event counter; a change means a new key) -> SCANCODE(offset = (counter-1) & 0x1F),
alternating with a hook poll (P4K 0x8B, B2K 0x8D; the B3G reports hook in its KEYPRESS reply). G2 phones
(P1KH, 8-byte packets) report keys by themselves. ``decode`` is self-describing: the reply's command byte
says what it answers, so a recorded trace replays without the host side.

Outputs: ``encode`` returns the packets to write (the runner writes exactly those): LCD text through the
24-byte buffer (only changed bytes are sent), ring on/off (P1K(H) RINGTONE; B2K/B3G B2K_RING switched by a
cadence from ``poll``), ring volume, LEDs (P1K polarity is a profile option), dial tone, backlight,
hands-free speaker and the B2K/B3G PSTN switch.

source: ../shared/protocols/usb-phone-protocols.md §2 (kernel yealink.{c,h}, treitmayr/yealink-module,
hkarel/ToxPhone). Edit this module when the polling or output logic changes; wire format lives in
yealink_proto.py, outputs in
yealink_outputs.py, the LCD map in yealink_lcd.py, scan tables in yealink_keys.py.
"""

from __future__ import annotations

import logging
from typing import Any

from usbphone.drivers import cadence as cad
from usbphone.drivers import yealink_proto as yp
from usbphone.drivers.base import Capabilities, Driver, OutputReport
from usbphone.drivers.keystate import KeyTracker, check_known, check_word, choice_option, number_option, parse_code
from usbphone.drivers.yealink_keys import NO_KEY, table_for
from usbphone.drivers.yealink_outputs import (
    LCD_MODELS,
    LED_POLARITY,
    MELODY_MODELS,
    P4K_LIKE,
    SWITCH_RING_MODELS,
    YealinkOutputs,
)
from usbphone.events import LEDS, HandsetEvent
from usbphone.profiles.schema import ProfileError

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.1  # source: treitmayr/yealink-module YEALINK_POLLING_DELAY 100 ms (halved for B2K/P4K)
REPLY_TIMEOUT = 0.2  # source: treitmayr/yealink-module YEALINK_USB_INT_TIMEOUT 200 ms
G2_COMMAND_GAP = 0.025  # source: §2.2 "Flow (G2, P1KH)": commands at least 25 ms apart

HOOK_CMD = {"p3k": yp.CMD_HOOKPRESS, "p4k": yp.CMD_HOOKPRESS, "v1k": yp.CMD_HOOKPRESS, "b2k": yp.CMD_HANDSET}
OPTIONS = {
    "model", "generation", "led_polarity", "led_names", "keys", "poll_interval", "reply_timeout",
    "ring_cadence", "cadences", "stuck_key_timeout", "dialtone", "source",
}


class YealinkDriver(YealinkOutputs, Driver):
    name = "yealink"

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        check_known(options, OPTIONS, where)
        choice_option(options, "model", where, yp.MODELS | {"auto"})
        if options.get("generation", "auto") not in ("auto", 1, 2):
            raise ProfileError(f"{where}: 'generation' must be \"auto\", 1 or 2")
        choice_option(options, "led_polarity", where, set(LED_POLARITY))
        names = options.get("led_names", [])
        if not isinstance(names, list) or not set(names) <= LEDS:
            raise ProfileError(f"{where}: 'led_names' must be a list of LED names from: {', '.join(sorted(LEDS))}")
        keys = options.get("keys", {})
        if not isinstance(keys, dict):
            raise ProfileError(f"{where}: 'keys' must be a table of \"0xNN\" = \"key 5\"")
        for code, word in keys.items():
            parse_code(code, f"{where} keys", hi=0xFF)
            if word != "":
                check_word(word, f"{where} keys.{code}")
        number_option(options, "poll_interval", where, 0.01, 2.0)
        number_option(options, "reply_timeout", where, 0.02, 5.0)
        number_option(options, "stuck_key_timeout", where, 1.0, 3600.0)
        cad.validate(options, where)
        if not isinstance(options.get("dialtone", False), bool):
            raise ProfileError(f"{where}: 'dialtone' must be true or false")

    def __init__(self, profile: Any, device: Any) -> None:
        super().__init__(profile, device)
        opt = self.options
        self.fixed_model = opt.get("model", "auto") != "auto"
        gen = opt.get("generation", "auto")
        self.fixed_gen = gen != "auto"
        self.gen: int = gen if self.fixed_gen else (2 if opt.get("model") == "p1kh" else 1)  # the P1KH is G2 (§2.1)
        self.model: str = opt["model"] if self.fixed_model else ""
        self.version: int | None = None
        self.serial = ""
        self.key_overrides = {parse_code(k, "keys"): v for k, v in opt.get("keys", {}).items()}
        self.interval = float(opt.get("poll_interval", POLL_INTERVAL))
        self.reply_timeout = float(opt.get("reply_timeout", REPLY_TIMEOUT))
        self.keys = KeyTracker(float(opt.get("stuck_key_timeout", 30.0)))
        self.phase = "version"
        self.awaiting: tuple[int, float | None] | None = None
        self.tries = 0
        self.next_poll = 0.0
        self.last_scan = 0
        self.key_seq: int | None = None
        self.scan_pending: int | None = None
        self.hook: str | None = None
        self.pstn_ring = False
        self._init_outputs(opt)

    # -- identity ----------------------------------------------------------------------------------
    @property
    def active_model(self) -> str:
        """The model in use: detected or configured, else the generation's usual one."""
        return self.model or ("p1kh" if self.gen == 2 else "p1k")

    def set_packet_size(self, size: int) -> None:
        """Tell the driver the interrupt-IN packet size (16 = G1, 8 = G2); the USB transport calls this."""
        if not self.fixed_gen and size in (yp.G1_LEN, yp.G2_LEN):
            self.gen = 1 if size == yp.G1_LEN else 2

    @property
    def identified(self) -> bool:
        """True once VERSION named the model and INIT gave the serial (usbphone.drivers.probe waits for this)."""
        return self.version is not None and self.phase == "scan"

    @property
    def write_gap(self) -> float:
        """Seconds the transport must leave between writes (G2 phones drop commands sent faster)."""
        return G2_COMMAND_GAP if self.gen == 2 else 0.0

    def capabilities(self) -> Capabilities:
        m = self.active_model
        table = table_for(m, self.key_overrides)
        buttons = {w.split(" ", 1)[1] for w in table.values() if w.startswith("button ")}
        leds = set(self.led_names) | ({"backlight"} if m in P4K_LIKE else set())
        hook = m in HOOK_CMD or m == "b3g"
        if self.version is not None:
            notes = [f"model {m.upper()} (version 0x{self.version:04x})"]
        else:
            notes = [f"model {m.upper()} (set by the profile)" if self.fixed_model
                     else f"model unknown yet (treated as {m.upper()} until it answers VERSION)"]
        if self.serial:
            notes.append(f"serial {self.serial}")
        return Capabilities(
            hook=hook, hook_kind="absolute" if hook else "none", keypad=True, buttons=buttons, leds=leds,
            ringer=m in MELODY_MODELS | SWITCH_RING_MODELS, lcd=m in LCD_MODELS, speaker=m in P4K_LIKE, notes=notes,
        )

    # -- packets -----------------------------------------------------------------------------------
    def _request(self, cmd: int, t: float | None, **kw: Any) -> OutputReport:
        if self.gen == 1 or cmd in (yp.CMD_VERSION, yp.CMD_INIT):
            self.awaiting = (cmd, t)
        return self._pkt(cmd, **kw)

    def start(self) -> list[OutputReport]:
        self.phase, self.tries = "version", 1
        # source: §2.1 "Send command 0x87 (VERSION), size 2"
        return [self._request(yp.CMD_VERSION, None, size=2)]

    # -- the polling loop --------------------------------------------------------------------------
    def poll(self, t: float) -> list[OutputReport]:
        out = self._timed_outputs(t)
        if self.awaiting is not None:
            cmd, sent = self.awaiting
            if sent is None:
                self.awaiting = (cmd, t)
                return out
            if t - sent < self.reply_timeout:
                return out
            self.stats["reply_timeout"] += 1
            log.debug("yealink: no reply to %s", yp.COMMAND_NAMES.get(cmd, hex(cmd)))
            self.awaiting = None
            if self.phase != "scan" and self.tries >= 3:
                log.warning("yealink: no %s reply after 3 tries; going on as %s", self.phase, self.active_model)
                self.phase = "scan"
        return out + self._next_request(t)

    def _next_request(self, t: float) -> list[OutputReport]:
        if self.phase == "version":
            self.tries += 1
            return [self._request(yp.CMD_VERSION, t, size=2)]
        if self.phase == "init":
            self.tries += 1
            # source: §2.4 INIT "size 10, zero data" (the reply carries the serial number)
            return [self._request(yp.CMD_INIT, t, size=10)]
        if self.gen == 2:
            return []  # the P1KH reports keys by itself (§2.2 "Flow (G2)")
        if self.scan_pending is not None:
            # source: §2.5 step 2, SCANCODE offset = (counter-1) & 0x1F
            return [self._request(yp.CMD_SCANCODE, t, size=1, offset=(self.scan_pending - 1) & 0x1F)]
        if t < self.next_poll:
            return []
        m = self.active_model
        hook_cmd = HOOK_CMD.get(m)
        self.next_poll = t + (self.interval / 2 if hook_cmd else self.interval)
        if hook_cmd and self.last_scan == yp.CMD_KEYPRESS:
            self.last_scan = hook_cmd
            return [self._request(hook_cmd, t, size=1)]
        self.last_scan = yp.CMD_KEYPRESS
        # source: treitmayr/yealink-module submit_scan_request: the B3G asks KEYPRESS with size 3
        return [self._request(yp.CMD_KEYPRESS, t, size=3 if m == "b3g" else 1)]

    def read_timeout(self, t: float) -> float | None:
        if self.awaiting is not None:
            sent = self.awaiting[1]
            wait = self.reply_timeout if sent is None else self.reply_timeout - (t - sent)
        elif self.phase == "scan" and self.gen == 1:
            wait = self.next_poll - t
        else:
            wait = 0.25
        if self.ringer.ringing or self.blinker.active:
            wait = min(wait, 0.05)
        return min(max(wait, 0.005), 0.25)

    def tick(self, t: float) -> list[HandsetEvent]:
        return self.keys.tick(t)

    # -- replies -----------------------------------------------------------------------------------
    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        try:
            pkt = yp.parse_packet(bytes(report))
        except yp.PacketError as exc:
            self.stats["bad_packet"] += 1
            log.debug("yealink: dropped %s", exc)
            return []
        if pkt.generation != self.gen:
            if self.fixed_gen:
                self.stats["wrong_generation"] += 1
                return []
            self.gen = pkt.generation
        if self.awaiting is not None and pkt.cmd in (self.awaiting[0], yp.STATE_BAD_PKT):
            self.awaiting = None
        self.stats["packets"] += 1
        handler = {
            yp.CMD_VERSION: self._on_version, yp.CMD_INIT: self._on_init, yp.CMD_KEYPRESS: self._on_keypress,
            yp.CMD_SCANCODE: self._on_scancode, yp.CMD_HOOKPRESS: self._on_hookpress,
            yp.CMD_HANDSET: self._on_handset,
        }.get(pkt.cmd)
        if handler is None:
            if pkt.cmd == yp.STATE_BAD_PKT:
                self.stats["device_rejected"] += 1
                log.warning("yealink: the phone rejected a packet (0xFD)")
            else:
                self.stats[f"reply_{pkt.name}"] += 1
            return []
        return handler(pkt, t)

    def _on_version(self, pkt: yp.Packet, t: float) -> list[HandsetEvent]:
        self.version = (pkt.data[0] << 8) | pkt.data[1]  # source: §2.1 "big-endian version"
        # the VERSION ranges are G1 ones; a G2 (8-byte) phone is the P1KH (treitmayr/yealink-module)
        found = "p1kh" if self.gen == 2 else yp.model_for_version(self.version)
        if not self.fixed_model:
            if found:
                self.model = found
            else:
                log.warning("yealink: unknown version 0x%04x; treating it as %s", self.version, self.active_model)
        if self.phase == "version":
            self.phase, self.tries = "init", 0
        return []

    def _on_init(self, pkt: yp.Packet, t: float) -> list[HandsetEvent]:
        self.serial = pkt.data.hex()
        if self.phase in ("version", "init"):
            self.phase = "scan"
        return []

    def _on_keypress(self, pkt: yp.Packet, t: float) -> list[HandsetEvent]:
        seq = pkt.data[0]
        if self.gen == 1:
            if self.key_seq is not None and seq != self.key_seq:
                self.scan_pending = seq
            self.key_seq = seq
        if self.active_model != "b3g":
            return []
        # source: §2.4 KEYPRESS "B3G only: data[1] bit 0 = PSTN ringing, data[2] bit 0: 1 = on-hook"
        self._pstn_ring(bool(pkt.data[1] & 1))
        return self._hook_level("on" if pkt.data[2] & 1 else "off", t)

    def _on_scancode(self, pkt: yp.Packet, t: float) -> list[HandsetEvent]:
        self.scan_pending = None
        code = pkt.data[0]
        events = self.keys.release_current(t)  # source: §2.5 step 4, key-up of the previous key on a new code
        if code == NO_KEY:
            return events
        word = table_for(self.active_model, self.key_overrides).get(code)
        if word is None:
            self.stats["unknown_scancode"] += 1
            log.info("yealink: unknown scan code 0x%02x on %s", code, self.active_model)
            return events
        return events + self.keys.press_current(word, t)

    def _on_hookpress(self, pkt: yp.Packet, t: float) -> list[HandsetEvent]:
        # source: §2.4 HOOKPRESS "data[0] bit 4: 1 = on-hook, 0 = off-hook"
        return self._hook_level("on" if pkt.data[0] & 0x10 else "off", t)

    def _on_handset(self, pkt: yp.Packet, t: float) -> list[HandsetEvent]:
        # source: §2.4 HANDSET "bit 0 = PSTN ringing, bit 1 = off-hook"
        self._pstn_ring(bool(pkt.data[0] & 1))
        return self._hook_level("off" if pkt.data[0] & 2 else "on", t)

    def _hook_level(self, state: str, t: float) -> list[HandsetEvent]:
        first = self.hook is None
        if state == self.hook:
            return []
        self.hook = state
        if first and state == "on":
            return []  # the first report sets state silently (DESIGN "hook")
        return [HandsetEvent("hook", state, t=t)]

    def _pstn_ring(self, ringing: bool) -> None:
        if ringing != self.pstn_ring:
            self.pstn_ring = ringing
            self.stats["pstn_ring_changes"] += 1
            log.info("yealink: PSTN line %s", "ringing" if ringing else "stopped ringing")


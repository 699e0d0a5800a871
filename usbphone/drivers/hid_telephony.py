"""Generic HID telephony driver: decode/encode any headset from its own report descriptor (page 0x0B).

Works with no profile at all: the layout (which bit is Hook Switch, which report carries LED Off-Hook, whether
the keypad is an array) comes from usbphone.hid.descriptor. Covers the report-layout families of
../shared/protocols/usb-phone-protocols.md §4.2: one report with many bits (GN/Jabra, Yealink WH6x), one output
report per LED (Plantronics/Poly), nested Application collections and multi-bit outputs (Sennheiser/EPOS).

Semantics (DESIGN.md vocabulary; §4.2 "Input flags seen"):
- Hook Switch flagged Absolute is a level (1 = off hook); flagged Relative it is a toggle pulse, turned into
  a level here. A device starts on hook; the first report of each report id sets state silently, except that
  a lifted hook emits ``hook off``.
- Buttons emit one ``button`` per 0→1 edge; absolute ones also ``button_up`` on release; relative ones (a
  pulse per press) emit nothing on the way back. Repeated identical reports therefore emit nothing.
- Telephony Key Pad arrays (0xB0-0xBF): a value outside Logical Min/Max, or past the usage list, is "no key".
- Consumer Volume Up/Down become ``vol_up``/``vol_down``; Consumer Mute becomes ``mute`` only on devices
  without Phone Mute (many send both for one press) unless [options] says otherwise.
- Output: the driver keeps every output report's bytes, so ``led off_hook on`` writes the whole report the
  descriptor defines with the other LEDs as they were. LED Speaker (0x1E) is ``led speaker``; ``speaker on``
  (hands-free) has no HID usage on these headsets and encodes to nothing.
- ``led X blink``: headsets have no blink usage the host can rely on (the LED page's flash/blink-time usages
  are absent from every descriptor in §4.1), so the driver lights the LED and then switches it every
  0.5 s from ``poll`` (cadence.Blinker, as the vendor drivers do); ``read_timeout`` wakes the runner for it
  only while an LED blinks.

Profile [options] (all optional): ``hook = "auto"|"level"|"toggle"``, ``mute = "press"|"switch"``
(switch: an absolute mute switch, every change is one press), ``consumer_mute = "auto"|"mute"|"ignore"``,
``consumer_volume = true|false``, ``ring = "auto"|"ringer"|"led"|"both"``,
``blink = "toggle"|"on"|"off"`` (toggle: switched from poll; on/off: shown steady, for a device that echoes
LED writes as input).
[quirks]: ``repeat_suppress_ms`` (drop a second press of the same button within N ms; Plantronics repeats
within ~50 ms, source: §4.5 WICG/webhid #61). Documented in devices/README.md.

Edit this module to map another usage; device-specific overrides belong in a profile's [options]/[quirks].
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from usbphone.drivers.base import Capabilities, Driver, OutputReport
from usbphone.drivers.cadence import Blinker
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.descriptor import Descriptor, DescriptorError, Field, parse_descriptor
from usbphone.profiles.schema import DeviceInfo, Profile, ProfileError

PAGE_LED = 0x08
PAGE_TELEPHONY = 0x0B
PAGE_CONSUMER = 0x0C

# source: HUT 1.4 §14 Telephony Device page (names as in hid-tools' HUT tables); usages seen in real
# descriptors: ../shared/protocols/usb-phone-protocols.md §4.1
HOOK_SWITCH = 0x20
PHONE_MUTE = 0x2F
TELEPHONY_BUTTONS = {
    0x21: "flash",
    0x23: "hold",
    0x24: "redial",
    0x25: "transfer",
    0x26: "hangup",  # Drop
    0x2B: "speaker",  # Speaker Phone
    0x2C: "conference",
    0x50: "speed_dial",
    0x70: "voicemail",  # Voice Mail
    0x72: "dnd",  # Do Not Disturb
}
RINGER = 0x9E
# Phone Key 0-9, *, #, A-D (HUT §14: 0xB0-0xBF)
PHONE_KEYS = {0xB0 + i: k for i, k in enumerate("0123456789*#ABCD")}
# source: HUT 1.4 §15 Consumer page: 0xE2 Mute, 0xE9 Volume Increment, 0xEA Volume Decrement
CONSUMER_MUTE = 0xE2
CONSUMER_BUTTONS = {0xE9: "vol_up", 0xEA: "vol_down"}
# source: HUT 1.4 §11 LED page; seen in real descriptors: usb-phone-protocols.md §4.1 LED table
LED_USAGES = {
    0x09: "mute",
    0x17: "off_hook",
    0x18: "ring",
    0x19: "message",  # Message Waiting
    0x1E: "speaker",
    0x20: "hold",
    0x21: "microphone",
    0x2A: "on_line",
}

OPTION_CHOICES: dict[str, tuple[Any, ...]] = {
    "hook": ("auto", "level", "toggle"),
    "mute": ("press", "switch"),
    "consumer_mute": ("auto", "mute", "ignore"),
    "consumer_volume": (True, False),
    "ring": ("auto", "ringer", "led", "both"),
    "blink": ("toggle", "on", "off"),
}
QUIRKS = {"repeat_suppress_ms"}


@dataclass
class _Control:
    """One input element we decode: what it means and how it behaves."""

    field: Field
    role: str  # hook | button | key | keypad
    name: str = ""  # button name or key
    edge_only: bool = False  # relative: a pulse per press, no release
    switch: bool = False  # every change is a press (absolute mute switch)


class HidTelephonyDriver(Driver):
    """Decodes page 0x0B/0x08/0x0C usages found in the device's own descriptor."""

    name: ClassVar[str] = "hid_telephony"

    def __init__(self, profile: Profile | None, device: DeviceInfo) -> None:
        super().__init__(profile, device)
        try:
            self.descriptor: Descriptor | None = parse_descriptor(device.descriptor) if device.descriptor else None
        except DescriptorError as exc:
            where = device.path or f"{device.id_text} {device.name!r}"
            raise ProfileError(f"{where}: its report descriptor (the R: line of a trace) is unusable: {exc}") from None
        self.opt = {k: v[0] for k, v in OPTION_CHOICES.items()} | self.options  # first choice = default
        self.controls: dict[int, list[_Control]] = {}
        self.outputs: dict[str, list[Field]] = {}  # led name or "ringer" -> fields
        self.out_state: dict[int, bytearray] = {}
        self.values: dict[int, dict[int, Any]] = {}  # report id -> control index -> last value
        self.hook_off = False
        self.last_press: dict[str, float] = {}
        self.blinker = Blinker()
        if self.descriptor is not None:
            self._map_inputs(self.descriptor)
            self._map_outputs(self.descriptor)

    # -- profile validation --------------------------------------------------------------------------
    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        for key, value in options.items():
            choices = OPTION_CHOICES.get(key)
            if choices is None:
                raise ProfileError(f"{where}: unknown field '{key}' (allowed: {', '.join(sorted(OPTION_CHOICES))})")
            if value not in choices or type(value) is not type(choices[0]):
                shown = " | ".join(repr(c).lower() if isinstance(c, bool) else repr(c) for c in choices)
                raise ProfileError(f"{where}: field '{key}' = {value!r} must be one of {shown}")

    @classmethod
    def validate_quirks(cls, quirks: dict[str, Any], where: str) -> None:
        for key, value in quirks.items():
            if key not in QUIRKS:
                raise ProfileError(f"{where}: unknown quirk '{key}' (known: {', '.join(sorted(QUIRKS))})")
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
                raise ProfileError(f"{where}: quirk '{key}' must be an integer 0..10000 (ms), got {value!r}")

    # -- layout ----------------------------------------------------------------------------------------
    def _map_inputs(self, desc: Descriptor) -> None:
        has_phone_mute = bool(desc.find("input", PAGE_TELEPHONY, PHONE_MUTE))
        consumer_mute = self.opt["consumer_mute"]
        map_consumer_mute = consumer_mute == "mute" or (consumer_mute == "auto" and not has_phone_mute)
        for report in desc.of_kind("input"):
            for f in report.fields:
                control = self._control_for(f, map_consumer_mute)
                if control is not None:
                    self.controls.setdefault(report.report_id, []).append(control)

    def _control_for(self, f: Field, map_consumer_mute: bool) -> _Control | None:
        if f.is_constant:
            return None
        if f.is_array:
            if any(u >> 16 == PAGE_TELEPHONY and (u & 0xFFFF) in PHONE_KEYS for u in f.usages):
                return _Control(f, "keypad")
            return None
        page, usage = f.usage_page, f.usage
        if page == PAGE_TELEPHONY:
            if usage == HOOK_SWITCH:
                return _Control(f, "hook")
            if usage == PHONE_MUTE:
                return _Control(f, "button", "mute", f.is_relative, self.opt["mute"] == "switch")
            if usage in TELEPHONY_BUTTONS:
                return _Control(f, "button", TELEPHONY_BUTTONS[usage], f.is_relative)
            if usage in PHONE_KEYS:
                return _Control(f, "key", PHONE_KEYS[usage], f.is_relative)
        if page == PAGE_CONSUMER:
            if usage in CONSUMER_BUTTONS and self.opt["consumer_volume"]:
                return _Control(f, "button", CONSUMER_BUTTONS[usage], f.is_relative)
            if usage == CONSUMER_MUTE and map_consumer_mute:
                return _Control(f, "button", "mute", f.is_relative)
        return None

    def _map_outputs(self, desc: Descriptor) -> None:
        for report in desc.of_kind("output"):
            for f in report.fields:
                if f.is_constant or f.is_array:
                    continue
                if f.usage_page == PAGE_LED and f.usage in LED_USAGES:
                    self.outputs.setdefault(LED_USAGES[f.usage], []).append(f)
                elif f.usage_page == PAGE_TELEPHONY and f.usage == RINGER:
                    self.outputs.setdefault("ringer", []).append(f)
            self.out_state[report.report_id] = bytearray(report.size)
            if report.report_id:
                self.out_state[report.report_id][0] = report.report_id

    @property
    def hook_kind(self) -> str:
        hooks = [c for cs in self.controls.values() for c in cs if c.role == "hook"]
        if not hooks:
            return "none"
        if self.opt["hook"] != "auto":
            return "absolute" if self.opt["hook"] == "level" else "toggle"
        return "toggle" if hooks[0].field.is_relative else "absolute"

    def capabilities(self) -> Capabilities:
        controls = [c for cs in self.controls.values() for c in cs]
        desc = self.descriptor
        telephony = desc is not None and desc.has_page(PAGE_TELEPHONY)
        caps = Capabilities(
            hook=any(c.role == "hook" for c in controls),
            hook_kind=self.hook_kind,
            keypad=any(c.role in ("key", "keypad") for c in controls),
            buttons={c.name for c in controls if c.role == "button"},
            leds={k for k in self.outputs if k != "ringer"},
            ringer="ringer" in self.outputs,
            telephony=telephony,
        )
        if desc is None:
            caps.notes.append("no report descriptor")
        elif not telephony:
            caps.notes.append("the report descriptor declares no telephony (0x0B) usages")
        return caps

    # -- input -----------------------------------------------------------------------------------------
    def decode(self, report: bytes, t: float) -> list[HandsetEvent]:
        desc = self.descriptor
        layout = desc.input_report_for(report) if desc is not None else None
        if layout is None:
            self.stats["unknown_report"] += 1
            return []
        if len(report) < layout.size:
            self.stats["short_report"] += 1
            return []
        controls = self.controls.get(layout.report_id, [])
        previous = self.values.get(layout.report_id)
        current = {i: self._read(c, report) for i, c in enumerate(controls)}
        self.values[layout.report_id] = current
        events: list[HandsetEvent] = []
        for i, control in enumerate(controls):
            old = previous.get(i) if previous is not None else None
            events += self._changes(control, old, current[i], t, first=previous is None)
        return events

    @staticmethod
    def _read(control: _Control, report: bytes) -> Any:
        f = control.field
        if control.role != "keypad":
            return f.read(report) or 0
        keys = []
        for index in range(f.count):
            value = f.read(report, index)
            usage = f.array_usage(value) if value is not None else None
            if usage is not None and usage >> 16 == PAGE_TELEPHONY and (usage & 0xFFFF) in PHONE_KEYS:
                keys.append(PHONE_KEYS[usage & 0xFFFF])
        return frozenset(keys)

    def _changes(self, control: _Control, old: Any, new: Any, t: float, first: bool) -> list[HandsetEvent]:
        if control.role == "hook":
            return self._hook(control, old, new, t, first)
        if first or old == new:
            return []
        if control.role == "keypad":
            ups = [HandsetEvent("key_up", k, t) for k in sorted(old - new)]
            return ups + [HandsetEvent("key", k, t) for k in sorted(new - old)]
        kind = "key" if control.role == "key" else "button"
        if new and not old:
            return self._press(kind, control.name, t)
        if control.switch:
            return self._press(kind, control.name, t)
        if old and not new and not control.edge_only:
            return [HandsetEvent(f"{kind}_up", control.name, t)]
        return []

    def _press(self, kind: str, name: str, t: float) -> list[HandsetEvent]:
        window = self.quirks.get("repeat_suppress_ms", 0) / 1000.0
        last = self.last_press.get(name)
        self.last_press[name] = t
        if window and last is not None and 0 <= t - last < window:
            self.stats["suppressed_repeat"] += 1
            return []
        return [HandsetEvent(kind, name, t)]

    def _hook(self, control: _Control, old: Any, new: Any, t: float, first: bool) -> list[HandsetEvent]:
        if self.hook_kind == "toggle":
            if first or not new or old:
                return []
            self.hook_off = not self.hook_off
        else:
            if not first and old == new:
                return []
            lifted = bool(new)
            if lifted == self.hook_off:
                return []
            self.hook_off = lifted
        return [HandsetEvent("hook", "off" if self.hook_off else "on", t)]

    # -- output ----------------------------------------------------------------------------------------
    def encode(self, command: HandsetCommand) -> list[OutputReport]:
        if command.kind == "led":
            fields = self.outputs.get(command.target, [])
            self.blinker.stop(command.target)
            value = command.value if command.value != "blink" else self.opt["blink"]
            if value == "toggle" and fields:
                self.blinker.start(command.target)
            return self._set(fields, value in ("on", "toggle"))
        if command.kind == "ring":
            return self._set(self._ring_fields(), command.value == "on")
        self.stats["unsupported_command"] += 1
        return []

    def _ring_fields(self) -> list[Field]:
        mode = self.opt["ring"]
        ringer, led = self.outputs.get("ringer", []), self.outputs.get("ring", [])
        if mode == "auto":
            return ringer or led
        return {"ringer": ringer, "led": led, "both": ringer + led}[mode]

    def _set(self, fields: list[Field], on: bool) -> list[OutputReport]:
        return self._apply([(fields, on)])

    def _apply(self, changes: list[tuple[list[Field], bool]]) -> list[OutputReport]:
        """Set every field of every change, then one write per output report touched."""
        touched: list[int] = []
        for fields, on in changes:
            for f in fields:
                f.write(self.out_state[f.report_id], (f.logical_max or 1) if on else max(f.logical_min, 0))
                if f.report_id not in touched:
                    touched.append(f.report_id)
        return [OutputReport(bytes(self.out_state[rid]), "hidraw") for rid in touched]

    def poll(self, t: float) -> list[OutputReport]:
        """Switch the blinking LEDs when due (one write per report they share): steps of `led X blink`."""
        steps = self._apply([(self.outputs[name], lit) for name, lit in self.blinker.step(t).items()])
        return [replace(o, timed=True) for o in steps]

    def read_timeout(self, t: float) -> float | None:
        return self.blinker.timeout(t)  # None when nothing blinks: block until the headset reports

    def stop(self) -> list[OutputReport]:
        """Turn off whatever we turned on (ringer and LEDs), so an unplugged app leaves a dark headset."""
        self.blinker.stop()
        outs: list[OutputReport] = []
        for rid, buf in self.out_state.items():
            if any(buf[1 if rid else 0 :]):
                for fields in self.outputs.values():
                    for f in fields:
                        if f.report_id == rid:
                            f.write(buf, max(f.logical_min, 0))
                outs.append(OutputReport(bytes(buf), "hidraw"))
        return outs

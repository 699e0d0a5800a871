"""PhoneSettings: the knobs of the Phone's behaviour (timers, codes, volumes), with their defaults.

The app builds one from the config file (usbphone/config.py) and a device's profile (ring cadence);
tests build them directly. Edit this module to add a behaviour setting; keep every default usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usbphone.phone.dialplan import FeatureCodes


@dataclass(frozen=True)
class PhoneSettings:
    """Every Phone behaviour that a user may want to change."""

    inter_digit_timeout: float = 4.0  # s after the last digit before the number is sent
    digit_map: tuple[str, ...] = ()  # see dialplan.py; a complete match sends at once
    features: FeatureCodes = field(default_factory=FeatureCodes)
    send_key: str = "#"  # "" = # is an ordinary digit
    reject_code: int = 603  # reject/hangup key while ringing: 603 Decline (or 486 Busy Here)
    busy_code: int = 486  # a second call we cannot take (already dialling, or two calls up)
    dnd_code: int = 486  # DND rejects with this, without ringing
    call_waiting: bool = True
    ring_cadence: str = ""  # cadence name passed with `ring on` ("" = the device's default)
    mute_window: float = 0.5  # s: repeated mute reports within this are one press
    led_echo_window: float = 0.25  # s after our LED write in which a hook report is not taken as a hang-up
    volume: int = 60  # earpiece 0-100, kept per device
    ring_volume: int = 80
    volume_step: int = 10
    call_timer: bool = True  # show mm:ss on LCD line 2 during a call (devices with an LCD)

    def __post_init__(self) -> None:
        if self.inter_digit_timeout <= 0:
            raise ValueError("inter_digit_timeout must be > 0 seconds")
        for name in ("volume", "ring_volume"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be 0-100")
        for name in ("reject_code", "busy_code", "dnd_code"):
            if not 400 <= getattr(self, name) <= 699:
                raise ValueError(f"{name} must be a SIP final failure code (400-699)")


# --- from the config file ([dialplan] + the free-form [phone] table) ---------------------------------

_NUMBERS: dict[str, tuple[type, float, float]] = {
    "reject_code": (int, 400, 699), "busy_code": (int, 400, 699), "dnd_code": (int, 400, 699),
    "mute_window": (float, 0.0, 5.0), "led_echo_window": (float, 0.0, 5.0),
    "volume": (int, 0, 100), "ring_volume": (int, 0, 100), "volume_step": (int, 1, 50),
}
_FLAGS = ("call_waiting", "call_timer")
_FEATURES = ("redial", "dnd_on", "dnd_off", "dnd_toggle", "blind_transfer")
# read by the app (tones, echo test, a call when its handset is unplugged: "hangup" or "keep"), not the Phone
APPLIANCE_KEYS = {"country": "us", "echo_number": None, "unplugged_call": "hangup"}


def settings_from_config(dialplan: object, phone: dict[str, object], where: str = "config"
                         ) -> tuple[PhoneSettings, dict[str, object]]:
    """Build PhoneSettings from config.DialplanConfig and the [phone] table; returns (settings, app keys).

    Raises ValueError with "[phone] key: why" for a bad value (the app turns it into one error line).
    """
    from usbphone.phone.dialplan import DialPlan, DialPlanError

    kw: dict[str, object] = {
        "inter_digit_timeout": float(getattr(dialplan, "interdigit_timeout", 4.0)),
        "send_key": getattr(dialplan, "send_key", "#"),
        "digit_map": tuple(getattr(dialplan, "digit_maps", ())),
    }
    app = dict(APPLIANCE_KEYS)
    features: dict[str, str] = {}
    for key, value in phone.items():
        if key in _NUMBERS:
            kind, low, high = _NUMBERS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and
                                                                                 not isinstance(value, int)):
                raise ValueError(f"{where}: [phone] {key}: expected {kind.__name__}, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{where}: [phone] {key}: {value} is out of range {low:g}..{high:g}")
            kw[key] = kind(value)
        elif key in _FLAGS:
            if not isinstance(value, bool):
                raise ValueError(f"{where}: [phone] {key}: expected true or false, got {value!r}")
            kw[key] = value
        elif key in _FEATURES or key in ("ring_cadence",) or key in APPLIANCE_KEYS:
            if not isinstance(value, str):
                raise ValueError(f"{where}: [phone] {key}: expected a string, got {value!r}")
            if key in _FEATURES:
                features[key] = value
            elif key == "ring_cadence":
                kw[key] = value
            else:
                app[key] = value
        else:
            known = sorted([*_NUMBERS, *_FLAGS, *_FEATURES, "ring_cadence", *APPLIANCE_KEYS])
            raise ValueError(f"{where}: [phone] {key}: unknown key (known: {', '.join(known)})")
    kw["features"] = FeatureCodes(**features)
    try:
        settings = PhoneSettings(**kw)  # type: ignore[arg-type]
        DialPlan(settings.digit_map, settings.features)
    except DialPlanError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return settings, app

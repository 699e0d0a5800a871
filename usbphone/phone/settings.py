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

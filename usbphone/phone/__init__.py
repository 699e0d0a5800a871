"""The phone: a pure state machine, dial plan and tone plans (no I/O, no threads, no pjsua2)."""

from usbphone.phone.machine import Action, Phone
from usbphone.phone.settings import PhoneSettings
from usbphone.phone.tones import ToneSpec, tone_plan

__all__ = ["Action", "Phone", "PhoneSettings", "ToneSpec", "tone_plan"]

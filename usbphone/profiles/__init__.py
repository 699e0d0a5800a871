"""Device profiles: the data in devices/ that says which device is which and how it speaks."""

from usbphone.profiles.loader import ProfileError, load_profiles, match_profile
from usbphone.profiles.schema import DeviceInfo, MatchRule, Profile

__all__ = ["DeviceInfo", "MatchRule", "Profile", "ProfileError", "load_profiles", "match_profile"]

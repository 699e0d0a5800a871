"""Device profiles: the data in devices/ that says which device is which and how it speaks.

Re-exports the schema and loader names; edit schema.py or loader.py, not this file.
"""

from usbphone.profiles.loader import ProfileError, load_profiles, match_profile
from usbphone.profiles.schema import DeviceInfo, MatchRule, Profile

__all__ = ["DeviceInfo", "MatchRule", "Profile", "ProfileError", "load_profiles", "match_profile"]

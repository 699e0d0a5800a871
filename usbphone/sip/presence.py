"""Presence: our own state as pjsua2 PresenceStatus, and watched buddies reported as CallEvents.

"available" / "busy" (on the phone) / "dnd" / "away" / "offline"; DND travels as busy + the note
"Do not disturb" (RPID has no DND activity), and is read back the same way. Edit for new states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pjsua2 as pj

from usbphone.events import CallEvent
from usbphone.sip.callbacks import guarded
from usbphone.sip.uri import caller_id

if TYPE_CHECKING:
    from usbphone.sip.core import CallCore

PRESENCE = {  # value -> (pjsua status, rpid activity, note)
    "available": (pj.PJSUA_BUDDY_STATUS_ONLINE, pj.PJRPID_ACTIVITY_UNKNOWN, "Available"),
    "busy": (pj.PJSUA_BUDDY_STATUS_ONLINE, pj.PJRPID_ACTIVITY_BUSY, "On the phone"),
    "dnd": (pj.PJSUA_BUDDY_STATUS_ONLINE, pj.PJRPID_ACTIVITY_BUSY, "Do not disturb"),
    "away": (pj.PJSUA_BUDDY_STATUS_ONLINE, pj.PJRPID_ACTIVITY_AWAY, "Away"),
    "offline": (pj.PJSUA_BUDDY_STATUS_OFFLINE, pj.PJRPID_ACTIVITY_UNKNOWN, "Offline"),
}


class PresenceError(ValueError):
    """An unknown presence state."""


def presence_status(value: str) -> pj.PresenceStatus:
    if value not in PRESENCE:
        raise PresenceError(f"unknown presence state {value!r} (known: {', '.join(PRESENCE)})")
    status, activity, note = PRESENCE[value]
    ps = pj.PresenceStatus()
    ps.status, ps.activity, ps.note = status, activity, note
    return ps


class SipBuddy(pj.Buddy):
    """A watched presence buddy; reports its state as a ``presence`` CallEvent."""

    def __init__(self, core: CallCore, uri: str) -> None:
        super().__init__()
        self.core = core
        self.uri = uri

    @guarded
    def onBuddyState(self) -> None:
        bi = self.getInfo()
        st = bi.presStatus
        if st.status == pj.PJSUA_BUDDY_STATUS_OFFLINE:
            value = "offline"
        elif st.status != pj.PJSUA_BUDDY_STATUS_ONLINE:
            value = "unknown"
        elif st.note.lower().startswith("do not disturb"):
            value = "dnd"
        elif st.activity == pj.PJRPID_ACTIVITY_BUSY:
            value = "busy"
        elif st.activity == pj.PJRPID_ACTIVITY_AWAY:
            value = "away"
        else:
            value = "available"
        number, name = caller_id(self.uri)
        self.core.emit(CallEvent("presence", value=value, remote_number=number, remote_name=name,
                                 reason=st.note, extra={"uri": self.uri}))

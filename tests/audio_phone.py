"""A CallCore with an AudioBridge, driven from the test's thread (its owner): dial, wait for call events, hang
up, read the bridge's stats and notices. Shared by the sound-server tests (test_audio_jack.py, JACK's "system";
test_audio_pulse.py, a device the bridge chooses itself). Edit when the bridge's constructor changes."""

from __future__ import annotations

import queue
import time

from usbphone.config import Config
from usbphone.events import CallCommand, CallEvent


class Phone:
    """``device``: the bridge's device name (None: it chooses, from ``handset_syspath`` or the default)."""

    def __init__(self, config: Config | None = None, device: str | None = "system",
                 handset_syspath: str | None = None) -> None:
        from usbphone.sip.audio import AudioBridge
        from usbphone.sip.core import CallCore

        self.events: queue.Queue[CallEvent] = queue.Queue()
        notes: list[tuple[str, dict]] = []
        self.notes = notes  # (no lambda over self: a Phone -> bridge -> Phone cycle would outlive close())
        self.bridge = AudioBridge(device, None, config, handset_syspath=handset_syspath,
                                  notify=lambda what, data: notes.append((what, data)))
        self.core = CallCore(Config(), self.events.put, bind="127.0.0.1:0", audio=self.bridge)
        self.core.start()

    def wait(self, kind: str, timeout: float = 15) -> CallEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if ev.kind == kind:
                return ev
        raise AssertionError(f"no {kind} event within {timeout} s")

    def call(self, uri: str, seconds: float) -> dict:
        cid = self.core.execute(CallCommand("dial", target=uri))
        self.wait("connected")
        time.sleep(seconds)
        stats = self.bridge.stats()
        self.core.execute(CallCommand("hangup", call_id=cid))
        self.wait("ended")
        return stats

    def close(self) -> None:
        """Shut the endpoint down (CallCore.shutdown leaves nothing for a later collection to finalise under
        the next test's endpoint: tests/sip/test_sip_lifecycle.py)."""
        self.core.shutdown()

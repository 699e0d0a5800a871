"""Child process for test_audio_jack's device-loss test: a dial tone on the JACK "system" device, then the
parent kills jackd; prints one JSON line with the bridge's notifications (times relative to the kill).

Runs in its own process because a PortAudio stream on a dead JACK server can only be abandoned, never
closed, which would leave the test process's PortAudio unusable for the tests after it.
Usage: python audio_fault_child.py   (JACK_DEFAULT_SERVER etc. in the environment; "kill" on stdin when killed)
"""

from __future__ import annotations

import json
import sys
import time

from usbphone.sip.audio import AudioBridge


def main() -> None:
    notes: list[tuple[float, str, dict]] = []
    killed_at = [0.0]
    bridge = AudioBridge("system", notify=lambda what, data: notes.append((time.monotonic(), what, data)))
    bridge.play_tone("dial")
    deadline = time.monotonic() + 10
    while not bridge.streaming and time.monotonic() < deadline:
        time.sleep(0.01)
    print("streaming" if bridge.streaming else "not streaming", flush=True)
    sys.stdin.readline()  # the parent killed jackd
    killed_at[0] = time.monotonic()
    time.sleep(2.0)
    t = time.monotonic()
    bridge.close()
    close_s = time.monotonic() - t
    out = {"close_s": close_s, "notes": [(round(ts - killed_at[0], 3), w, d) for ts, w, d in notes],
           "faults": bridge.faults}
    print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()

"""Child process for the JACK-server-dies tests (test_audio_jack.py, test_audio_watchdog.py): the parent
starts ``jackd -d dummy``, runs this with its environment, kills jackd when told "streaming"/"ready", and
writes a line on stdin after the kill. Prints one JSON line at the end (times relative to the kill); the
parent checks it and that the process exits 0 (PortAudio's JACK host aborts the process at exit or on a
close once its server has died, unless the bridge leaves it alone: usbphone/audio/jackhost.py).

Modes (argv[1]):
  stream  (default) a dial tone on the JACK "system" device; 2 s after the kill the bridge is closed.
  idle    PortAudio initialised on the JACK server, no stream ever opened; reports whether PortAudio may be
          re-initialised after the kill (it must not: Pa_Terminate would abort).
  return  like stream, then the parent starts a JACK server of the same name again and writes a second
          line; the bridge, still wanting the device, must say ``restart_needed`` within 10 s.

Runs in its own process because a PortAudio stream on a dead JACK server can only be abandoned, never
closed, which would leave the test process's PortAudio unusable for the tests after it.
"""

from __future__ import annotations

import json
import sys
import time


def _stream(mode: str) -> dict:
    from usbphone.sip.audio import AudioBridge

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
    back_s = None
    if mode == "return":
        print("lost", flush=True)
        sys.stdin.readline()  # the parent started a JACK server of the same name again
        back = time.monotonic()
        while time.monotonic() < back + 10 and not any(d.get("kind") == "restart_needed" for _, _, d in notes):
            time.sleep(0.05)
        back_s = time.monotonic() - back
    t = time.monotonic()
    bridge.close()
    close_s = time.monotonic() - t
    return {"close_s": close_s, "notes": [(round(ts - killed_at[0], 3), w, d) for ts, w, d in notes],
            "faults": bridge.faults, "back_s": back_s}


def _idle() -> dict:
    from usbphone.audio import stream

    print("ready" if stream._has_jack_host() else "no jack host", flush=True)
    sys.stdin.readline()
    time.sleep(0.5)  # libjack tells the watch within ~10 ms
    return {"stuck": stream.portaudio_stuck(), "refreshed": stream.refresh_devices()}


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stream"
    out = _idle() if mode == "idle" else _stream(mode)
    print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()

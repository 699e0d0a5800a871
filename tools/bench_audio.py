"""Audio bench: CPU of a call with the audio bridge vs. pjsua2's null device vs. baresip, and bridge latency.

Usage: .venv/bin/python tools/bench_audio.py [--seconds 10] [--runs 3] [--rate 48000]

Same machine, same run, same peer (a baresip auto-answerer with a 1 kHz sine, as in tests/peers.py) and a
paced JACK dummy server (tests/jackd.py) at ``--rate`` as the sound device, so no sound hardware is needed:
  bridged  usbphone's CallCore + AudioBridge on JACK "system" (the handset's conference port at the device
           rate, usbphone/sip/confport.py; G.711 call on the 16 kHz conference clock)
  null     usbphone's CallCore on pjsua2's null sound device (no sound card at all)
  baresip  baresip calling the same peer with JACK audio at the same rate (its own C audio path)
Each call runs in a child process; its CPU is measured over the steady part of the call (from 2 s after
CONFIRMED to 1 s before the end). Then, per run, a loopback child times the bridge itself: the round trip
microphone -> earpiece through AudioBridge.loopback(), minus the same round trip through a plain PortAudio
stream copying input to output (the device's own buffers), halved (20 ms bursts every 250 ms, timed to the
sample by a JACK client).
Prints a table with medians and the ratios (target: bridged <= 2x baresip). Edit when a variant is added.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the same real-component fixtures the tests use


def loopback(seconds: float) -> None:
    """The bridge's own latency. Two round trips on the same JACK device, each timed by a JACK probe's 20 ms
    bursts every 250 ms, to the sample: first a PortAudio stream like the bridge's (int16, 20 ms blocks, "low"
    latency) whose callback copies the microphone to the earpiece (the device's buffers alone), then
    AudioBridge.loopback() (microphone -> conference port -> bridge -> the same port -> earpiece, as a call
    carries it). Prints one JSON line with both lists of round trips in ms."""
    from types import SimpleNamespace

    import numpy as np
    import sounddevice as sd
    from jackd import JackProbe

    from usbphone.audio.stream import BLOCK_MS
    from usbphone.config import Config
    from usbphone.sip.audio import AudioBridge
    from usbphone.sip.core import CallCore

    server = SimpleNamespace(name=os.environ["JACK_DEFAULT_SERVER"])

    def timed(start: Any, stop: Any) -> list[float]:
        probe = JackProbe(server, freq=1000, bursts_every_s=0.25)
        try:
            start()
            time.sleep(1.0)
            probe.clear()
            time.sleep(seconds / 2)
            return [1000 * t for t in probe.round_trips()]
        finally:
            stop()
            probe.close()

    rate = int(sd.query_devices("system", "output")["default_samplerate"])

    def copy(indata: np.ndarray, outdata: np.ndarray, frames: int, _t: Any, _s: Any) -> None:
        outdata[:] = indata

    direct = sd.Stream(device="system", samplerate=rate, channels=1, dtype="int16", latency="low",
                       blocksize=rate * BLOCK_MS // 1000, callback=copy)
    device = timed(direct.start, direct.close)
    bridge = AudioBridge("system")
    core = CallCore(Config(), lambda ev: None, bind="127.0.0.1:0", audio=bridge)
    core.start()

    def start() -> None:
        bridge.loopback(True)
        deadline = time.monotonic() + 10
        while not bridge.streaming and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        bridged = timed(start, lambda: bridge.loopback(False))
    finally:
        core.shutdown()
    print(json.dumps({"bridged_ms": bridged, "device_ms": device}), flush=True)


def child(mode: str, uri: str, seconds: float) -> None:
    """Runs one call in this process and prints one JSON line: CPU % (of one core) and latency samples."""
    import queue

    from usbphone.config import Config
    from usbphone.events import CallCommand
    from usbphone.sip.core import CallCore

    if mode == "loopback":
        loopback(seconds)
        return
    bridge: Any = None
    if mode == "bridged":
        from usbphone.sip.audio import AudioBridge

        bridge = AudioBridge("system")
    events: queue.Queue = queue.Queue()
    core = CallCore(Config(), events.put, bind="127.0.0.1:0", audio=bridge)
    core.start()
    try:
        cid = core.execute(CallCommand("dial", target=uri))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if events.get(timeout=0.1).kind == "connected":
                    break
            except queue.Empty:
                continue
        else:
            raise SystemExit("call not connected")
        start = time.monotonic()
        time.sleep(2.0)
        cpu0, t0 = time.process_time(), time.monotonic()
        time.sleep(max(0.5, seconds - 1.0 - (time.monotonic() - start)))
        cpu = 100 * (time.process_time() - cpu0) / (time.monotonic() - t0)
        stats = bridge.stats() if bridge is not None else {}
        core.execute(CallCommand("hangup", call_id=cid))
        time.sleep(0.3)
    finally:
        core.shutdown()
    print(json.dumps({"cpu": cpu, "xruns": stats.get("stream", {}).get("xruns")}), flush=True)


def cpu_seconds(pid: int) -> float:
    """CPU time of all of a process's threads, to the nanosecond (/proc/PID/task/*/schedstat): the 10 ms ticks
    of /proc/PID/stat would be 0.14 % of a core over a 7 s window, a tenth of what is measured. The bench's own
    children use time.process_time(), which is as precise."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def baresip_caller(tmp: Path, uri: str, seconds: float, env: dict[str, str], rate: int) -> float:
    """baresip dialling ``uri`` with JACK audio; CPU % of one core over the same steady window."""
    d = tmp / f"bs-caller-{time.monotonic_ns()}"
    d.mkdir()
    (d / "config").write_text(
        "poll_method\t\tepoll\nsip_listen\t\t127.0.0.1:0\nnet_interface\t\t127.0.0.1\ndns_server\t\t127.0.0.1:53\n"
        "audio_player\t\tjack,\naudio_source\t\tjack,\naudio_alert\t\tjack,\n"
        f"ausrc_srate\t\t{rate}\nauplay_srate\t\t{rate}\nausrc_format\t\tfloat\nauplay_format\t\tfloat\nrtp_ports\t\t7200-7300\n"
        "module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule\t\t\tjack.so\n"
        "module_tmp\t\taccount.so\nmodule_app\t\tmenu.so\n")
    (d / "accounts").write_text("<sip:caller@127.0.0.1>;regint=0\n")
    p = subprocess.Popen(["baresip", "-f", str(d), "-e", f"/dial {uri}", "-t", str(int(seconds + 1))],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        time.sleep(2.5)  # connected within ~0.1 s of launch (recipes §2); same 2 s settling as the others
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(seconds - 3.5)
        cpu = 100 * (cpu_seconds(p.pid) - c0) / (time.monotonic() - t0)
    finally:
        p.terminate()
        p.wait(10)
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=48000, help="the JACK dummy server's rate (the sound card's)")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "URI"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.seconds)
        return 0
    import pytest
    from jackd import JackServer
    from peers import Baresip

    results: dict[str, list[float]] = {"bridged": [], "null": [], "baresip": []}
    trips: dict[str, list[float]] = {"bridged_ms": [], "device_ms": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            server = JackServer(tmp, rate=args.rate)
        except pytest.skip.Exception as exc:
            print(f"bench_audio: {exc}", file=sys.stderr)
            return 1
        env = dict(os.environ) | server.env()
        peer = Baresip(tmp)
        try:
            for run in range(args.runs):
                for mode in [*results, "loopback"]:  # alternate, as the recipe's measurements did
                    if mode == "baresip":
                        results[mode].append(baresip_caller(tmp, peer.uri(), args.seconds, env, args.rate))
                        continue
                    out = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds), "--child", mode,
                                          peer.uri()], capture_output=True, text=True, env=env, timeout=120)
                    line = out.stdout.strip().splitlines()[-1:] or ["{}"]
                    data: dict[str, Any] = json.loads(line[0])
                    if mode == "loopback" and data.get("bridged_ms") and data.get("device_ms"):
                        for k in trips:
                            trips[k] += data[k]
                    elif "cpu" in data:
                        results[mode].append(data["cpu"])
                    else:
                        print(f"run {run} {mode} failed: {out.stderr[-500:]}", file=sys.stderr)
        finally:
            peer.stop()
            server.stop()
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"JACK dummy at {args.rate} Hz, {args.runs} runs of {args.seconds:.0f} s")
    print(f"{'variant':10} {'runs':>4} {'CPU % (1 core), median':>24}  raw")
    for k, v in results.items():
        if v:
            print(f"{k:10} {len(v):>4} {med[k]:>24.2f}  {', '.join(f'{x:.2f}' for x in v)}")
    if {"bridged", "null", "baresip"} <= med.keys():
        print(f"bridged / baresip = {med['bridged'] / med['baresip']:.2f}  (target <= 2)")
        print(f"bridged / null    = {med['bridged'] / med['null']:.2f}")
    if len(trips["bridged_ms"]) >= 2 and len(trips["device_ms"]) >= 2:
        br, dev = statistics.median(trips["bridged_ms"]), statistics.median(trips["device_ms"])
        q = statistics.quantiles(trips["bridged_ms"], n=100)
        print(f"round trip mic -> earpiece: through the bridge median {br:.1f} ms, p99 {q[98]:.1f} ms "
              f"({len(trips['bridged_ms'])} bursts); the device's buffers alone {dev:.1f} ms")
        print(f"bridge latency (half the difference, each way): {(br - dev) / 2:.1f} ms median, "
              f"{(q[98] - dev) / 2:.1f} ms p99")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Audio bench: CPU of a call with the audio bridge vs. pjsua2's null device vs. baresip, and bridge latency.

Usage: .venv/bin/python tools/bench_audio.py [--seconds 10] [--runs 3]

Same machine, same run, same peer (a baresip auto-answerer with a 1 kHz sine, as in tests/peers.py) and a
paced JACK dummy server (tests/jackd.py) as the sound device, so no sound hardware is needed:
  bridged  usbphone's CallCore + AudioBridge on JACK "system" (48 kHz device, 16 kHz bridge, soxr both ways)
  floor    the same AudioMediaPort and sounddevice stream with empty callbacks (the design's own cost)
  null     usbphone's CallCore on pjsua2's null sound device (no Python audio at all)
  baresip  baresip calling the same peer with JACK audio (its own C audio path)
Each call runs in a child process; its CPU is measured over the steady part of the call (from 2 s after
CONFIRMED to 1 s before the end). The bridged child also samples the bridge's own latency every 100 ms.
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


class FloorBridge:
    """The cost of the bridge's architecture with no work in it: the same AudioMediaPort (16 kHz, 20 ms) and
    duplex sounddevice stream at the device rate, both with callbacks that only hand back silence. What the
    real bridge costs above this is its work (buffers, resampling, tones); below it, only a different design."""

    def __init__(self, device: str) -> None:
        self.device = device

    def on_endpoint_started(self) -> None:
        import pjsua2 as pj
        import sounddevice as sd

        class Port(pj.AudioMediaPort):
            def __init__(self) -> None:
                super().__init__()
                self.vec = pj.ByteVector(bytes(640))

            def onFrameRequested(self, frame: Any) -> None:  # noqa: N802 - pjsua2 API
                frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
                frame.buf = self.vec
                frame.size = 640

            def onFrameReceived(self, frame: Any) -> None:  # noqa: N802 - pjsua2 API
                pass

        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, 16000, 1, 20000, 16)
        self.port = Port()
        self.port.createPort("floor", fmt)

        def callback(indata: Any, outdata: Any, frames: int, _t: Any, _status: Any) -> None:
            outdata.fill(0)

        from usbphone.audio.stream import BLOCK_MS

        rate = int(sd.query_devices(self.device, "output")["default_samplerate"])
        self.stream = sd.Stream(device=self.device, samplerate=rate, channels=1, dtype="float32",
                                blocksize=rate * BLOCK_MS // 1000, callback=callback)
        self.stream.start()

    def connect(self, call_id: int, aud_med: Any) -> None:
        aud_med.startTransmit(self.port)
        self.port.startTransmit(aud_med)

    def disconnect(self, call_id: int) -> None:
        pass

    def close(self) -> None:
        self.stream.close()
        self.port = None

    def stats(self) -> dict[str, Any]:
        return {}


def child(mode: str, uri: str, seconds: float) -> None:
    """Runs one call in this process and prints one JSON line: CPU % (of one core) and latency samples."""
    import queue

    from usbphone.config import Config
    from usbphone.events import CallCommand
    from usbphone.sip.core import CallCore

    bridge: Any = None
    if mode == "bridged":
        from usbphone.sip.audio import AudioBridge

        bridge = AudioBridge("system")
    elif mode == "floor":
        bridge = FloorBridge("system")
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
        lat: dict[str, list[float]] = {"mic_to_call": [], "call_to_earpiece": []}
        while time.monotonic() - start < seconds - 1.0:
            time.sleep(0.1)
            if bridge is not None and "bridge_latency_ms" in (st := bridge.stats()):
                for k, v in st["bridge_latency_ms"].items():
                    lat[k].append(v)
        cpu = 100 * (time.process_time() - cpu0) / (time.monotonic() - t0)
        stats = bridge.stats() if bridge is not None else {}
        core.execute(CallCommand("hangup", call_id=cid))
        time.sleep(0.3)
    finally:
        core.shutdown()
    print(json.dumps({"cpu": cpu, "latency": lat, "xruns": stats.get("stream", {}).get("xruns")}), flush=True)


def baresip_caller(tmp: Path, uri: str, seconds: float, env: dict[str, str]) -> float:
    """baresip dialling ``uri`` with JACK audio; CPU % of one core over the same steady window."""
    import psutil

    d = tmp / f"bs-caller-{time.monotonic_ns()}"
    d.mkdir()
    (d / "config").write_text(
        "poll_method\t\tepoll\nsip_listen\t\t127.0.0.1:0\nnet_interface\t\t127.0.0.1\ndns_server\t\t127.0.0.1:53\n"
        "audio_player\t\tjack,\naudio_source\t\tjack,\naudio_alert\t\tjack,\nausrc_srate\t\t48000\n"
        "auplay_srate\t\t48000\nausrc_format\t\tfloat\nauplay_format\t\tfloat\nrtp_ports\t\t7200-7300\n"
        "module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule\t\t\tjack.so\n"
        "module_tmp\t\taccount.so\nmodule_app\t\tmenu.so\n")
    (d / "accounts").write_text("<sip:caller@127.0.0.1>;regint=0\n")
    p = subprocess.Popen(["baresip", "-f", str(d), "-e", f"/dial {uri}", "-t", str(int(seconds + 1))],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    proc = psutil.Process(p.pid)
    try:
        time.sleep(2.5)  # connected within ~0.1 s of launch (recipes §2); same 2 s settling as the others
        c0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds - 3.5)
        cpu = 100 * (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0)
    finally:
        p.terminate()
        p.wait(10)
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "URI"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.seconds)
        return 0
    import pytest
    from jackd import JackServer
    from peers import Baresip

    results: dict[str, list[float]] = {"bridged": [], "floor": [], "null": [], "baresip": []}
    lat: dict[str, list[float]] = {"mic_to_call": [], "call_to_earpiece": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            server = JackServer(tmp, rate=48000)
        except pytest.skip.Exception as exc:
            print(f"bench_audio: {exc}", file=sys.stderr)
            return 1
        env = dict(os.environ) | server.env()
        peer = Baresip(tmp)
        try:
            for run in range(args.runs):
                for mode in results:  # alternate, as the recipe's measurements did
                    if mode == "baresip":
                        results[mode].append(baresip_caller(tmp, peer.uri(), args.seconds, env))
                        continue
                    out = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds), "--child", mode,
                                          peer.uri()], capture_output=True, text=True, env=env, timeout=120)
                    line = out.stdout.strip().splitlines()[-1:] or ["{}"]
                    data: dict[str, Any] = json.loads(line[0])
                    if "cpu" not in data:
                        print(f"run {run} {mode} failed: {out.stderr[-500:]}", file=sys.stderr)
                        continue
                    results[mode].append(data["cpu"])
                    for k, v in data["latency"].items():
                        lat[k] += v
        finally:
            peer.stop()
            server.stop()
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"{'variant':10} {'runs':>4} {'CPU % (1 core), median':>24}  raw")
    for k, v in results.items():
        if v:
            print(f"{k:10} {len(v):>4} {med[k]:>24.2f}  {', '.join(f'{x:.2f}' for x in v)}")
    if {"bridged", "null", "baresip"} <= med.keys():
        print(f"bridged / baresip = {med['bridged'] / med['baresip']:.2f}  (target <= 2)")
        print(f"bridged / null    = {med['bridged'] / med['null']:.2f}")
    if {"floor", "baresip"} <= med.keys():
        print(f"floor / baresip   = {med['floor'] / med['baresip']:.2f}  (the design's own cost: empty callbacks)")
    for k, v in lat.items():
        if v:
            q = statistics.quantiles(v, n=100)
            print(f"bridge latency {k}: median {statistics.median(v):.1f} ms, p99 {q[98]:.1f} ms ({len(v)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

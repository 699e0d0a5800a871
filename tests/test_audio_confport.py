"""The handset's conference port (usbphone/sip/confport.py) on a real pjsua library, clocked by the test.

The port is pjmedia's splitcomb with a reverse channel: the sound card's side (``put``/``get``) and the
conference bridge's side (the reverse port's get_frame/put_frame) run on different clocks, with pjmedia's
delay buffers between them. Here the test plays both clocks, faster than real time, exactly as the bridge
and a PortAudio callback call them (one 20 ms frame per tick each), so a 10-minute call with the USB clock
0.1 % fast or slow takes seconds. Checked: samples pass exactly when the clocks agree, and with drift the
delay through each direction stays bounded (no growing delay, nothing piles up) over the whole call.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import numpy as np
import pytest

pj = pytest.importorskip("pjsua2")
from usbphone.sip import confport  # noqa: E402

RATE = 16000
N = RATE * confport.FRAME_MS // 1000


@pytest.fixture(scope="module")
def library() -> Iterator[None]:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    cfg.uaConfig.threadCnt = 0
    cfg.medConfig.threadCnt = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    confport.library_started()
    try:
        yield
    finally:
        ep.libDestroy()


class BridgeSide:
    """The conference bridge's calls on the reverse port: what the conference clock does every tick."""

    def __init__(self, port: confport.ConfPort) -> None:
        lib = confport._lib()  # noqa: SLF001 - the test is the clock
        self.get_fn, self.put_fn, self.rev = lib.pjmedia_port_get_frame, lib.pjmedia_port_put_frame, port._rev  # noqa: SLF001
        self.buf = np.zeros(N, dtype=np.int16)
        self.frame = confport._Frame(confport.PJMEDIA_FRAME_TYPE_AUDIO, self.buf.ctypes.data, self.buf.nbytes, 0, 0)  # noqa: SLF001

    def get(self) -> np.ndarray:
        """The handset's microphone as the bridge receives it."""
        self.frame.type, self.frame.size = confport.PJMEDIA_FRAME_TYPE_AUDIO, self.buf.nbytes
        assert self.get_fn(self.rev, ctypes.byref(self.frame)) == 0
        return self.buf.copy()

    def put(self, x: np.ndarray) -> None:
        """What the bridge mixed for the handset's earpiece."""
        self.buf[:] = x
        self.frame.type, self.frame.size = confport.PJMEDIA_FRAME_TYPE_AUDIO, self.buf.nbytes
        assert self.put_fn(self.rev, ctypes.byref(self.frame)) == 0


def noise(seed: int, n: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 4000).clip(-32000, 32000).astype(np.int16)


def delay_frames(sent: np.ndarray, got: np.ndarray) -> int:
    """Where ``sent`` (a probe) starts in ``got``, in samples (cross-correlation peak)."""
    c = np.correlate(got.astype(np.float64), sent.astype(np.float64), mode="valid")
    return int(np.argmax(c))


def run_call(port: confport.ConfPort, minutes: float, device_ppm: float) -> dict[str, list[int]]:
    """Both clocks for ``minutes`` of call time, the sound card ``device_ppm`` fast (negative: slow). Every
    minute a 200 ms noise probe goes through each direction; returns each probe's delay in samples."""
    bridge = BridgeSide(port)
    ticks = int(minutes * 60 * 1000 / confport.FRAME_MS)
    step = 1.0 + device_ppm * 1e-6  # device frames per conference frame
    probe_len = 10 * N
    delays: dict[str, list[int]] = {"mic_to_call": [], "call_to_earpiece": []}
    every = 60 * 1000 // confport.FRAME_MS
    up_sent: dict[int, np.ndarray] = {}
    down_sent: dict[int, np.ndarray] = {}
    up_got: list[np.ndarray] = []
    down_got: list[np.ndarray] = []
    dev_clock = 0.0
    dev_frames = 0
    for tick in range(ticks):
        # the sound card runs ``step`` frames per conference frame: sometimes two in a row, sometimes none
        dev_clock += step
        while dev_frames < int(dev_clock):
            k = dev_frames % every
            probe = up_sent.setdefault(dev_frames - k, noise(dev_frames - k, probe_len)) if k < 10 else None
            port.mic[:] = probe[k * N:(k + 1) * N] if probe is not None else 0
            port.put()
            down_got.append(port.get().copy())
            dev_frames += 1
        k = tick % every
        probe = down_sent.setdefault(tick - k, noise(10**9 + tick - k, probe_len)) if k < 10 else None
        bridge.put(probe[k * N:(k + 1) * N] if probe is not None else np.zeros(N, np.int16))
        up_got.append(bridge.get())
    up, down = np.concatenate(up_got), np.concatenate(down_got)
    for start, probe in sorted(up_sent.items()):  # sent at device frame ``start``, received on the bridge clock
        at = int(start / step) * N
        window = up[at: at + probe_len + 20 * N]
        if window.size >= probe_len + 10 * N:
            delays["mic_to_call"].append(delay_frames(probe, window))
    for start, probe in sorted(down_sent.items()):
        at = int(start * step) * N
        window = down[at: at + probe_len + 20 * N]
        if window.size >= probe_len + 10 * N:
            delays["call_to_earpiece"].append(delay_frames(probe, window))
    return delays


def test_samples_pass_exactly_when_the_clocks_agree(library: None) -> None:
    port = confport.ConfPort(RATE)
    bridge = BridgeSide(port)
    sent = noise(1, 50 * N)
    got_up, got_down = [], []
    for i in range(50):
        port.mic[:] = sent[i * N:(i + 1) * N]
        port.put()
        got_down.append(port.get().copy())
        bridge.put(sent[i * N:(i + 1) * N])
        got_up.append(bridge.get())
    for got in (np.concatenate(got_up), np.concatenate(got_down)):
        d = delay_frames(sent[10 * N:30 * N], got)
        assert d - 10 * N <= 2 * N  # at most two frames of buffering
        assert np.array_equal(got[d: d + 20 * N], sent[10 * N:30 * N])  # bit-exact: nothing stretched
    port.close()


@pytest.mark.parametrize("ppm", [1000, -1000], ids=["device-fast", "device-slow"])
def test_ten_minutes_of_drift_keep_the_delay_bounded(library: None, ppm: int) -> None:
    port = confport.ConfPort(RATE)
    delays = run_call(port, minutes=10, device_ppm=ppm)
    port.close()
    print(f"{ppm:+} ppm, delays per minute (ms):",
          {k: [round(1000 * d / RATE, 1) for d in v] for k, v in delays.items()})
    for direction, d in delays.items():
        assert len(d) >= 9, direction
        ms = [1000 * x / RATE for x in d]
        # Uncorrected, 0.1 % drift moves the delay by 60 ms a minute (600 ms over the call). Corrected, it
        # stays within the delay buffers (+ one frame of tick order and one of probe alignment here) ...
        assert max(ms) <= (confport.BUFFERS + 2) * confport.FRAME_MS, (direction, ms)
        # ... and does not creep: minutes 2 and 10 differ by less than half a minute's worth of drift
        assert abs(ms[-1] - ms[1]) < 30, (direction, ms)

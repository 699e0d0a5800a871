"""A single-producer/single-consumer sample FIFO between two audio clocks, with drift correction.

The audio bridge has two independent clocks: pjmedia's conference clock (20 ms frames) and the sound card's
(USB) clock, which runs a little fast or slow (0.01-0.1 % is typical). One ``DriftBuffer`` sits in each
direction. The *reading* side corrects the drift: when the buffer holds more than it needs it consumes
``n + k`` samples and squeezes them into ``n`` (linear interpolation over the block), when it holds too little
it consumes ``n - k`` and stretches them. Corrections are at most ``max_step`` of a block (0.5 %, far above
real clock offsets and inaudible on speech), so most blocks pass unmodified.

How much is "enough": both sides move samples in bursts (a write of ``B`` samples every ``B / rate`` s), so
the raw fill level is a saw-tooth. The controller looks at a *phase-free* estimate instead: the fill plus the
part of the next write already "due" (``min(elapsed_since_write * rate, last_write)``). A read cannot
underrun while that estimate stays above the largest recent write, so the target is ``largest write +
margin``; the window minimum of the estimate (over ``window`` seconds) is steered into ``[target, target +
band]``. A window whose minimum is far above target (a stalled consumer, start-up) is cut back at once
(``resyncs``) so the added latency stays bounded. An underrun means one side is burstier than the estimate
allows for (a sound server that wakes every 30 ms and runs three periods at once): the target then grows by
a ``cushion`` (the shortfall, at least one write; at most 60 ms, kept for the life of the stream) and the
buffer refills to the new target before playing on: one gap, then none. Times are passed in (``now``) so
the whole behaviour can be simulated faster than real time; the callers pass ``time.monotonic()``.

Never raises on the audio path: underruns pad with silence and are counted, overflows drop the oldest samples
and are counted. Edit this module to change the drift policy; the tests simulate a 10-minute call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class BufferStats:
    """Counters a bridge reports (event log, `usbphone doctor`)."""

    underruns: int = 0  # reads that found fewer samples than asked for (after priming)
    underrun_samples: int = 0
    overflows: int = 0  # writes that would have exceeded capacity (oldest samples dropped)
    resyncs: int = 0  # fill cut back at once because it was far above target
    stretched: int = 0  # samples inserted by drift correction
    squeezed: int = 0  # samples removed by drift correction
    level: int = 0  # samples buffered after the last read
    max_level: int = 0  # largest fill seen before a read since priming
    wait_ms: float = 0.0  # mean time a sample spends in the buffer (moving average over ~1 s of reads)

    def as_dict(self) -> dict[str, float]:
        out = dict(self.__dict__)
        out["wait_ms"] = round(self.wait_ms, 1)
        return out


class DriftBuffer:
    """FIFO of float32 mono samples at one rate; ``write`` from one thread, ``read`` from another."""

    def __init__(
        self,
        rate: int,
        *,
        capacity_s: float = 0.5,
        margin_s: float = 0.002,
        band_s: float = 0.004,
        window_s: float = 1.0,
        max_excess_s: float = 0.040,
        max_step: float = 0.005,
        max_cushion_s: float = 0.060,
    ) -> None:
        self.rate = rate
        self._buf = np.zeros(max(int(rate * capacity_s), 64), dtype=np.float32)
        self._start = 0  # read position
        self._count = 0  # samples held
        self._lock = threading.Lock()
        self._margin = int(rate * margin_s)
        self._band = max(int(rate * band_s), 1)
        self._window = window_s
        self._max_excess = int(rate * max_excess_s)
        self._max_step = max_step
        self._last_write_t: float | None = None
        self._last_write_n = 0
        self._max_write = 0  # largest write seen (decays slowly so a one-off burst does not pin latency)
        self._cushion = 0  # extra fill learned from underruns (a burstier clock than the estimate allows for)
        self._max_cushion = int(rate * max_cushion_s)
        self._primed = False
        self._win_start: float | None = None
        self._win_min: float | None = None
        self._pending = 0.0  # samples still to remove (>0) or insert (<0)
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (n, m) -> interpolation grid
        self.stats = BufferStats()

    # --- producer side ---------------------------------------------------------------------------------
    def write(self, samples: np.ndarray, now: float | None = None) -> None:
        """Append samples (any float/int16 array, mono). Drops the oldest samples when full."""
        now = time.monotonic() if now is None else now
        x = np.asarray(samples)
        if x.dtype == np.int16:
            x = x * np.float32(1 / 32768)
        elif x.dtype != np.float32 or x.ndim != 1:
            x = x.astype(np.float32).reshape(-1)
        with self._lock:
            cap = self._buf.size
            if x.size >= cap:
                x = x[-(cap - 1):]
            overflow = self._count + x.size - cap
            if overflow > 0:
                self._drop(overflow)
                self.stats.overflows += 1
            end = (self._start + self._count) % cap
            first = min(x.size, cap - end)
            self._buf[end:end + first] = x[:first]
            self._buf[:x.size - first] = x[first:]
            self._count += x.size
            self._last_write_t, self._last_write_n = now, x.size
            self._max_write = max(x.size, int(self._max_write * 0.999))

    # --- consumer side ---------------------------------------------------------------------------------
    def read(self, n: int, now: float | None = None) -> np.ndarray:
        """Return exactly ``n`` samples, drift-corrected; silence until the buffer is first filled to target."""
        now = time.monotonic() if now is None else now
        with self._lock:
            target = self._max_write + self._margin + self._cushion
            est = self._estimate(now)
            if not self._primed:
                if self._last_write_t is None or est - n < target + self._band // 2 or self._count < n:
                    return np.zeros(n, dtype=np.float32)
                self._primed = True
                self._win_start, self._win_min, self._pending = now, None, 0.0
            if est - n > target + self._band + 4 * self._max_excess:  # a long stall's backlog: cut it now
                self._drop(int(est - n - (target + self._band / 2)))
                self.stats.resyncs += 1
                est = self._estimate(now)
            self.stats.max_level = max(self.stats.max_level, self._count)
            self._track(now, est - n, target)
            k = self._step(n)
            before = self._count
            out = self._take(n, n + k)
            self.stats.level = self._count
            mean_fill = (before + self._count) / 2  # the fill between two reads, averaged
            self.stats.wait_ms += 0.02 * (1000 * mean_fill / self.rate - self.stats.wait_ms)
            return out

    def _estimate(self, now: float) -> float:
        """Fill level plus the part of the next write that is already due (removes the burst saw-tooth)."""
        if self._last_write_t is None:
            return float(self._count)
        due = min(max(now - self._last_write_t, 0.0) * self.rate, float(self._last_write_n))
        return self._count + due

    def _track(self, now: float, spare: float, target: int) -> None:
        """Window minimum of the spare estimate; at each window end plan the correction for the next one."""
        if abs(self._pending) >= 1:  # a correction is being worked off: measure afresh once it is done
            self._win_start, self._win_min = now, None
            return
        self._win_min = spare if self._win_min is None else min(self._win_min, spare)
        if self._win_start is None or now - self._win_start < self._window:
            self._win_start = now if self._win_start is None else self._win_start
            return
        err = self._win_min - (target + self._band / 2)
        self._win_start, self._win_min = now, None
        if err > self._band / 2 + self._max_excess:  # far too full for a whole window: cut back at once
            self._drop(int(err))
            self.stats.resyncs += 1
            return
        self._pending = err if abs(err) > self._band / 2 else 0.0

    def _step(self, n: int) -> int:
        """How many extra samples (+) or fewer (-) this read consumes to work off the pending correction."""
        if abs(self._pending) < 1:
            return 0
        limit = max(1, int(n * self._max_step))
        k = int(max(-limit, min(limit, round(self._pending))))
        if k > 0:
            k = min(k, max(self._count - n, 0))
        else:
            k = max(k, 1 - n)  # a stretch still consumes one sample (none: nothing to interpolate from)
        self._pending -= k
        return k

    def _take(self, n: int, m: int) -> np.ndarray:
        """Consume ``m`` samples and return them resampled to ``n``; pad with silence on underrun."""
        avail = min(m, self._count)
        cap = self._buf.size
        start, end = self._start, self._start + avail
        if end <= cap:
            block = self._buf[start:end].copy()
        else:
            block = np.concatenate((self._buf[start:], self._buf[:end - cap]))
        self._start = end % cap
        self._count -= avail
        if avail < m:  # underrun: what there is, then silence, and refill before playing on
            self.stats.underruns += 1
            self.stats.underrun_samples += m - avail
            self._primed = False
            self._cushion = min(self._cushion + max(m - avail, self._max_write), self._max_cushion)
            out = np.zeros(n, dtype=np.float32)
            out[:min(avail, n)] = block[:n]
            return out
        if m == n:
            return block
        if m > n:
            self.stats.squeezed += m - n
        else:
            self.stats.stretched += n - m
        grid = self._grids.get((n, m))
        if grid is None:  # a few (n, m) pairs per stream: built once (linspace/arange cost more than interp)
            if len(self._grids) > 32:
                self._grids.clear()
            grid = self._grids[(n, m)] = (np.linspace(0.0, m - 1, n), np.arange(m, dtype=np.float64))
        return np.interp(grid[0], grid[1], block).astype(np.float32)

    def _drop(self, k: int) -> None:
        k = min(k, self._count)
        self._start = (self._start + k) % self._buf.size
        self._count -= k

    # --- introspection ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    def latency_s(self) -> float:
        """Samples held, in seconds (what a sample written now waits, ignoring the reader's block)."""
        return self._count / self.rate

    def reset(self) -> None:
        with self._lock:
            self._start = self._count = 0
            self._primed = False
            self._last_write_t = None
            self._max_write = 0
            self._cushion = 0
            self._pending = 0.0

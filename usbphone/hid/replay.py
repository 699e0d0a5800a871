"""Replay transport: a recorded trace acts as a device behind the same seam as hidraw/pyusb/serial.

``ReplayTransport(trace)`` hands out the trace's ``E:`` reports at their recorded times (scaled by ``speed``),
so ``usbphone run --replay`` and the hotplug tests drive the same runner, driver and Phone a live device does.
``fast=True`` hands them out at once (``usbphone replay``); ``clock()`` then returns the trace time of the
last report, so events keep their recorded timestamps. Writes are kept in ``written`` (nothing to send to).
``close()`` from any thread wakes a blocked ``read`` at once; ``drained`` is set once a read finds the trace
exhausted (everything before it has been decoded by then).

Edit this module when replay needs more control (looping, pausing); the trace format lives in trace.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from usbphone.drivers.base import OutputReport
from usbphone.hid.trace import Trace
from usbphone.hid.transport import TransportError


class ReplayTransport:
    """Feeds a trace's input reports through the transport seam."""

    def __init__(
        self,
        trace: Trace,
        *,
        fast: bool = False,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.trace = trace
        self.fast = fast
        self.speed = speed
        self._clock = clock
        self._reports = trace.inputs
        self._t0 = trace.reports[0].t if trace.reports else 0.0
        self._next = 0
        self._start: float | None = None
        self._closed = threading.Event()
        self.drained = threading.Event()
        self.last_t = 0.0  # trace time (from its first report) of the last report handed out
        self.written: list[OutputReport] = []

    # -- the seam ------------------------------------------------------------------------------------
    def open(self) -> None:
        if self._closed.is_set():
            raise TransportError(f"replay of {self.trace.path or 'trace'} was closed")
        self._start = self._clock()

    def read(self, timeout: float | None) -> bytes | None:
        if self._start is None:
            raise TransportError("replay transport read before open()")
        if self._closed.is_set():
            return None
        if self._next >= len(self._reports):
            self.drained.set()
            self._closed.wait(timeout)
            return None
        report = self._reports[self._next]
        rel = report.t - self._t0
        if not self.fast:
            wait = self._start + rel / self.speed - self._clock()
            if wait > 0:
                if timeout is not None and timeout < wait:
                    self._closed.wait(timeout)
                    return None
                if self._closed.wait(wait):
                    return None
        self._next += 1
        self.last_t = rel
        return report.data

    def write(self, report: OutputReport) -> None:
        if self._closed.is_set():
            raise TransportError("replay transport is closed")
        self.written.append(report)

    def close(self) -> None:
        self._closed.set()

    # -- helpers -------------------------------------------------------------------------------------
    def clock(self) -> float:
        """Seconds since trace start: the trace time of the last report in fast mode, else wall time."""
        if self.fast or self._start is None:
            return self.last_t
        return (self._clock() - self._start) * self.speed

    @property
    def remaining(self) -> int:
        return len(self._reports) - self._next

    @property
    def duration(self) -> float:
        return (self._reports[-1].t - self._t0) if self._reports else 0.0

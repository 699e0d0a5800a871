"""RecordingTransport: wraps a transport and keeps both directions as a hid-recorder trace.

Reads become ``E:`` lines and writes ``# O:`` lines (with their transport), timed by ``clock`` from the
first call. ``pump`` drives a driver over a transport synchronously on a virtual clock, so a simulator
conversation gives the same trace every time (used to build devices/*/traces/*.hid).

Edit this module when the trace extension for host writes changes.
"""

from __future__ import annotations

from collections.abc import Callable

from usbphone.drivers.base import Driver, OutputReport
from usbphone.events import HandsetEvent
from usbphone.hid.trace import Trace, TraceReport
from usbphone.hid.transport import Transport


class RecordingTransport:
    """A Transport that records what passes through ``inner``."""

    def __init__(self, inner: Transport, clock: Callable[[], float], trace: Trace) -> None:
        self.inner = inner
        self.clock = clock
        self.trace = trace
        self._t0: float | None = None

    def _t(self) -> float:
        now = self.clock()
        if self._t0 is None:
            self._t0 = now
        return round(now - self._t0, 6)

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def read(self, timeout: float | None) -> bytes | None:
        data = self.inner.read(timeout)
        if data:
            self.trace.reports.append(TraceReport(self._t(), bytes(data), "in"))
        return data

    def write(self, report: OutputReport) -> None:
        self.trace.reports.append(TraceReport(self._t(), report.data, "out", report.transport))
        self.inner.write(report)


class VirtualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def pump(
    driver: Driver,
    transport: Transport,
    clock: VirtualClock,
    until: float,
    *,
    actions: dict[float, Callable[[], object]] | None = None,
    step: float = 0.005,
    start: bool = True,
) -> list[HandsetEvent]:
    """Run the driver loop (start, poll, read, decode/tick) on virtual time up to ``until`` seconds.

    ``actions`` maps a time to a callable (press a key, send a command) run once that time is reached;
    a command's writes go through ``transport`` exactly as the runner sends them.
    """
    pending = sorted((actions or {}).items())
    events: list[HandsetEvent] = []
    if start:
        for out in driver.start():
            transport.write(out)
    while clock.now < until:
        while pending and pending[0][0] <= clock.now:
            result = pending.pop(0)[1]()
            for out in result if isinstance(result, list) else []:
                if isinstance(out, OutputReport):
                    transport.write(out)
        for out in driver.poll(clock.now):
            transport.write(out)
        data = transport.read(0)
        events += driver.decode(data, clock.now) if data else driver.tick(clock.now)
        clock.now = round(clock.now + (0.001 if data else step), 6)
    return events

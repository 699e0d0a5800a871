"""DeviceRunner: one thread per handset that pumps its transport through its driver.

The reader thread only reads, decodes and hands events to ``emit`` (the app's queue.put); it never
touches the Phone or pjsua2. Commands (``send``) are encoded under a lock shared with the reader, so a
driver's state (LCD buffer, LED bits) is never seen half-updated; polled drivers (Yealink, CM109) return
their writes from ``poll`` and the runner sends them between reads, keeping request/reply order. When a
command gives a driver that was waiting for input with no timeout something timed to do (an LED blinking),
``send`` wakes the reader through the transport's optional ``wake()``. Poll writes marked ``timed`` (ring
cadence, blink steps) also go to ``on_timed`` (the app logs them as the command's device writes).

Edit this module when the device loop changes (e.g. reconnect policy); protocol details belong in drivers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from usbphone.drivers.base import Driver, OutputReport
from usbphone.events import HandsetCommand, HandsetEvent
from usbphone.hid.transport import Transport, TransportError

log = logging.getLogger(__name__)

Emit = Callable[[HandsetEvent], None]


class DeviceRunner:
    """Runs ``driver`` over ``transport`` on its own thread; events go to ``emit``."""

    def __init__(
        self,
        driver: Driver,
        transport: Transport,
        emit: Emit,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self.driver = driver
        self.transport = transport
        self.emit = emit
        self.clock = clock
        self.name = name or driver.device.name or driver.device.id_text
        self.writes: list[OutputReport] = []  # the last writes, for diagnostics (bounded)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._untimed = False  # the reader is (about to be) in read(timeout=None)
        self.error: str = ""
        self.on_timed: Callable[[OutputReport], None] | None = None  # told of poll's cadence/blink writes

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the transport (errors raise TransportError here, in the caller) and start reading."""
        self.transport.open()
        with self._lock:
            self._write_all(self.driver.start())
        self._thread = threading.Thread(target=self._loop, name=f"hid-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Send the driver's goodbye writes, close the transport and join the thread."""
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            with self._lock:
                self._write_all(self.driver.stop())
        except TransportError as exc:
            log.debug("%s: goodbye writes failed: %s", self.name, exc)
        self.transport.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- commands ----------------------------------------------------------------------------------
    def send(self, command: HandsetCommand) -> list[OutputReport]:
        """Encode and write one command (thread-safe). Returns what was written."""
        with self._lock:
            outs = self.driver.encode(command)
            self._write_all(outs)
            wake = self._untimed and self.driver.read_timeout(self.clock()) is not None
        if wake and callable(getattr(self.transport, "wake", None)):
            self.transport.wake()  # type: ignore[attr-defined]
        return outs

    def _write_all(self, outs: list[OutputReport]) -> None:
        for out in outs:
            self.transport.write(out)
            self.writes.append(out)
        del self.writes[:-64]

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                now = self.clock()
                with self._lock:
                    polled = self.driver.poll(now)
                    self._write_all(polled)
                    for out in polled:
                        if out.timed and self.on_timed is not None:
                            self.on_timed(out)
                    timeout = self.driver.read_timeout(now)
                    self._untimed = timeout is None
                data = self.transport.read(timeout)
                self._untimed = False
                if self._stop.is_set():
                    break
                now = self.clock()
                with self._lock:
                    events = self.driver.decode(data, now) if data else self.driver.tick(now)
                for event in events:
                    self.emit(event)
        except TransportError as exc:
            if not self._stop.is_set():
                self.error = str(exc)
                state = "detached" if exc.gone else "error"
                self.emit(HandsetEvent("device", state, t=self.clock(), message=str(exc)))
        except Exception as exc:  # a driver bug must not kill the appliance silently
            log.exception("%s: device loop failed", self.name)
            self.error = f"internal error: {exc}"
            self.emit(HandsetEvent("device", "error", t=self.clock(), message=self.error))
        finally:
            self.transport.close()

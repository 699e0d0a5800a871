"""Re-registration after a failure: exponential backoff with random jitter, on one pjlib-registered thread.

pjsua's own retry (fixed interval) is switched off (pjconfig: ``retryIntervalSec = 0``); this module takes
over so a dead registrar sees 1x, 2x, 4x ... the configured interval (capped at MAX_DELAY), each plus up to
``retry_jitter`` seconds, and a phone fleet does not retry in lockstep. Authentication failures (401/403/407)
are final: a wrong password is reported once, never retried (no retry storm). The thread blocks on a
condition variable (no polling) and is registered with pjlib before it calls pjsua2.
Edit when the retry policy changes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import pjsua2 as pj

log = logging.getLogger("usbphone.sip")

MAX_DELAY = 3600.0
FINAL_CODES = frozenset({401, 403, 407})


def backoff_delay(failures: int, base: float, jitter: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (1 = first)."""
    r = rng or random
    return min(base * 2 ** max(failures - 1, 0), MAX_DELAY) + (r.uniform(0, jitter) if jitter else 0.0)


def retryable(code: int) -> bool:
    return code not in FINAL_CODES


class Retrier:
    """Runs ``action()`` for a key after a delay; a new schedule for the same key replaces the old one."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._due: dict[str, tuple[float, Callable[[], None]]] = {}
        self._stop = False
        self._thread: threading.Thread | None = None

    def schedule(self, key: str, delay: float, action: Callable[[], None]) -> None:
        with self._cv:
            if self._stop:
                return
            self._due[key] = (time.monotonic() + delay, action)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="usbphone-sip-retry", daemon=True)
                self._thread.start()
            self._cv.notify()

    def cancel(self, key: str) -> None:
        with self._cv:
            self._due.pop(key, None)

    def stop(self) -> None:
        """Stop and wait for the thread (before the accounts it acts on are destroyed)."""
        with self._cv:
            self._stop = True
            self._due.clear()
            self._cv.notify()
            thread = self._thread
        if thread is not None:
            thread.join(5)

    def _run(self) -> None:
        pj.Endpoint.instance().libRegisterThread("usbphone-sip-retry")
        while True:
            with self._cv:
                while not self._stop:
                    now = time.monotonic()
                    ready = [k for k, (t, _) in self._due.items() if t <= now]
                    if ready:
                        break
                    nxt = min((t for t, _ in self._due.values()), default=None)
                    self._cv.wait(None if nxt is None else nxt - now)
                if self._stop:
                    return
                actions = [self._due.pop(k)[1] for k in ready]
            # Outside the lock: pjsua calls onRegState with its own lock held, and that callback schedules
            # here. stop() joins this thread, so no account is destroyed while an action runs.
            for action in actions:
                try:
                    action()
                except pj.Error as exc:
                    log.warning("re-registration failed to start: %s", exc.reason)

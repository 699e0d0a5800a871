"""Ask a polled device who it is: open its transport, run the driver's start/poll/decode loop briefly, close.

Used by `usbphone devices` to show e.g. the Yealink model from its VERSION reply. A driver that can say
more about the device after talking to it exposes ``identified`` (True once it knows) and puts what it
learned in ``capabilities().notes`` (Yealink: "model P1K (version 0x0110)", "serial ..."). Devices whose
drivers have no ``identified`` attribute are not opened. ``probe`` bounds the whole exchange (open
included) in wall time, so a device or a libusb call that hangs costs one note, never the listing.
``converse`` is the exchange itself on an open transport (`usbphone send` asks a phone its model before
encoding a command for it); ``learn`` tells a driver the replies a trace recorded.

Edit this module when probing needs more than the driver loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from usbphone.drivers.base import Driver
from usbphone.errors import UserError
from usbphone.hid.transport import Transport, TransportError

log = logging.getLogger(__name__)


def identifies(driver: Driver) -> bool:
    """True for drivers that learn what their device is by asking it (they have ``identified``)."""
    return hasattr(driver, "identified")


def converse(driver: Driver, transport: Transport, timeout: float = 1.0,
             clock: Callable[[], float] = time.monotonic) -> bool:
    """On an open transport: start, then poll/read/decode until the driver knows the device (or ``timeout``)."""
    for out in driver.start():
        transport.write(out)
    end = clock() + timeout
    while identifies(driver) and not driver.identified and clock() < end:  # type: ignore[attr-defined]
        for out in driver.poll(clock()):
            transport.write(out)
        data = transport.read(min(0.05, max(0.0, end - clock())))
        if data:
            driver.decode(data, clock())
    return bool(getattr(driver, "identified", True))


def learn(driver: Driver, replies: list[tuple[float, bytes]]) -> bool:
    """Decode recorded replies (time, bytes) until the driver knows the device; True once it does."""
    for t, data in replies:
        if not identifies(driver) or driver.identified:  # type: ignore[attr-defined]
            break
        driver.decode(data, t)
    return bool(getattr(driver, "identified", False))


def identify(driver: Driver, transport: Transport, timeout: float = 1.0,
             clock: Callable[[], float] = time.monotonic) -> list[str]:
    """The driver's notes after talking to the device for at most ``timeout`` seconds ([] if it cannot)."""
    if not identifies(driver):
        return []
    try:
        transport.open()
    except TransportError as exc:
        return [f"not probed: {exc}"]
    try:
        converse(driver, transport, timeout, clock)
    except TransportError as exc:
        return [f"probe failed: {exc}"]
    finally:
        try:
            for out in driver.stop():
                transport.write(out)
        except TransportError:
            pass
        transport.close()
    notes = list(driver.capabilities().notes)
    if not driver.identified:  # type: ignore[attr-defined]
        notes.append(f"the device did not say what it is within {timeout:g} s")
    return notes


def probe(driver: Driver, make_transport: Callable[[], Transport], timeout: float = 1.0,
          limit: float = 3.0) -> list[str]:
    """``identify`` on its own thread, at most ``limit`` seconds in all; failures become a note."""
    if not identifies(driver):
        return []
    result: list[list[str]] = []

    def work() -> None:
        try:
            result.append(identify(driver, make_transport(), timeout))
        except UserError as exc:  # e.g. the transport's library is missing
            result.append([f"not probed: {exc}"])
        except Exception as exc:  # a library failing in an unexpected way must not break the listing
            log.debug("probe of %s failed", driver.device.id_text, exc_info=True)
            result.append([f"probe failed: {type(exc).__name__}: {exc}"])

    thread = threading.Thread(target=work, name=f"probe-{driver.device.id_text}", daemon=True)
    thread.start()
    thread.join(limit)
    return result[0] if result else [f"not probed: the device did not answer within {limit:g} s"]

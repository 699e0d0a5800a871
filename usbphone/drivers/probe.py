"""Ask a polled device who it is: open its transport, run the driver's start/poll/decode loop briefly, close.

Used by `usbphone devices` to show e.g. the Yealink model from its VERSION reply. A driver that can say
more about the device after talking to it exposes ``identified`` (True once it knows) and puts what it
learned in ``capabilities().notes`` (Yealink: "model P1K (version 0x0110)", "serial ..."). Devices whose
drivers have no ``identified`` attribute are not opened.

Edit this module when probing needs more than the driver loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from usbphone.drivers.base import Driver
from usbphone.hid.transport import Transport, TransportError


def identify(driver: Driver, transport: Transport, timeout: float = 1.0,
             clock: Callable[[], float] = time.monotonic) -> list[str]:
    """The driver's notes after talking to the device for at most ``timeout`` seconds ([] if it cannot)."""
    if not hasattr(driver, "identified"):
        return []
    try:
        transport.open()
    except TransportError as exc:
        return [f"not probed: {exc}"]
    try:
        for out in driver.start():
            transport.write(out)
        end = clock() + timeout
        while not driver.identified and clock() < end:  # type: ignore[attr-defined]
            for out in driver.poll(clock()):
                transport.write(out)
            data = transport.read(min(0.05, max(0.0, end - clock())))
            if data:
                driver.decode(data, clock())
    except TransportError as exc:
        return [f"probe failed: {exc}"]
    finally:
        try:
            for out in driver.stop():
                transport.write(out)
        except TransportError:
            pass
        transport.close()
    return list(driver.capabilities().notes)

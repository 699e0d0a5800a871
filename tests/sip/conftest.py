"""Fixtures for the SIP tests: the device under test is a real CallCore in this process; peers are real.

``make_core(toml_text)`` starts a CallCore on 127.0.0.1 (free port) with that config and returns a Dut:
``dut.run(kind, ...)`` executes a CallCommand on this (the owner) thread, ``dut.wait(kind, **match)`` waits
for a CallEvent. Peers (``sipp``/``kamailio``/``pjpeer``/``capture`` factories) are stopped in teardown.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers import Baresip, Capture, Kamailio, PjPeer, Sipp

from usbphone.config import Config, parse_config
from usbphone.events import CallCommand, CallEvent
from usbphone.sip.core import CallCore


class Dut:
    """The device under test: a started CallCore plus its event queue."""

    def __init__(self, config: Config, bind: str = "127.0.0.1:0", audio: Any = None) -> None:
        self.events: queue.Queue[CallEvent] = queue.Queue()
        self.seen: list[CallEvent] = []
        self._used: set[int] = set()
        self.core = CallCore(config, self.events.put, bind=bind, audio=audio)
        self.core.start()

    @property
    def address(self) -> str:
        return self.core.local_address

    def run(self, kind: str, **kw: Any) -> Any:
        return self.core.execute(CallCommand(kind, **kw))

    def wait(self, kind: str, timeout: float = 10, **match: Any) -> CallEvent:
        """The next not-yet-consumed event of ``kind`` whose fields (or extra keys) match."""

        def ok(ev: CallEvent) -> bool:
            return ev.kind == kind and all(getattr(ev, k, ev.extra.get(k)) == v for k, v in match.items())

        for ev in self.seen:
            if ok(ev) and id(ev) not in self._used:
                self._used.add(id(ev))
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {match} within {timeout} s; events: {self.seen}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if ok(ev):
                self._used.add(id(ev))
                return ev

    def drain(self, seconds: float) -> list[CallEvent]:
        """Collect events for ``seconds`` (to assert something did NOT happen)."""
        end = time.monotonic() + seconds
        got: list[CallEvent] = []
        while (left := end - time.monotonic()) > 0:
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(ev)
            got.append(ev)
        return got


@pytest.fixture
def make_core() -> Iterator[Callable[..., Dut]]:
    made: list[Dut] = []

    def factory(toml_text: str = "", bind: str = "127.0.0.1:0", audio: Any = None) -> Dut:
        import tomllib

        dut = Dut(parse_config(tomllib.loads(toml_text), "test config"), bind=bind, audio=audio)
        made.append(dut)
        return dut

    yield factory
    for dut in made:
        dut.core.shutdown()


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[Any]]:
    """A list to append started peers to; each is stopped at teardown (also when the test failed)."""
    started: list[Any] = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture
def sipp_uas(tmp_path: Path, peers: list[Any]) -> Callable[..., Sipp]:
    def factory(scenario: str = "", **kw: Any) -> Sipp:
        s = Sipp.uas(tmp_path, scenario, **kw)
        peers.append(s)
        return s

    return factory


@pytest.fixture
def sipp_uac(tmp_path: Path, peers: list[Any]) -> Callable[..., Sipp]:
    def factory(target: str, scenario: str = "", **kw: Any) -> Sipp:
        s = Sipp.uac(tmp_path, target, scenario, **kw)
        peers.append(s)
        return s

    return factory


@pytest.fixture
def kamailio(tmp_path: Path, peers: list[Any]) -> Callable[[dict[str, str]], Kamailio]:
    def factory(users: dict[str, str]) -> Kamailio:
        k = Kamailio(tmp_path, users)
        peers.append(k)
        return k.start()

    return factory


@pytest.fixture
def pjpeer(tmp_path: Path, peers: list[Any]) -> Callable[..., PjPeer]:
    def factory(config: str = "", name: str = "peer") -> PjPeer:
        p = PjPeer(tmp_path, config, name)
        peers.append(p)
        return p

    return factory


@pytest.fixture
def baresip(tmp_path: Path, peers: list[Any]) -> Callable[..., Baresip]:
    def factory(codecs: tuple[str, ...] = ("g711",)) -> Baresip:
        b = Baresip(tmp_path, codecs)
        peers.append(b)
        return b

    return factory


@pytest.fixture
def capture(tmp_path: Path, peers: list[Any]) -> Callable[..., Capture]:
    def factory(bpf: str = "udp") -> Capture:
        c = Capture(tmp_path, bpf)
        peers.append(c)
        return c.start()

    return factory

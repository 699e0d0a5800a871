"""Every trace shipped in devices/**/traces/*.hid decodes to exactly its golden .events file.

Golden format (devices/README.md): one event per line, ``kind value`` (``hook off``, ``key 5``,
``button mute``, ``key_up 5``); blank lines and ``#`` comments are ignored. The replay goes through the same
path as `usbphone replay` (profile chosen from the trace header, ReplayTransport, DeviceRunner, driver).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from usbphone.commands.replay import replay_events

DEVICES = Path(__file__).resolve().parents[1] / "devices"
TRACES = sorted(DEVICES.glob("*/traces/*.hid"))


def golden(path: Path) -> list[str]:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_the_tree_ships_traces() -> None:
    assert len(TRACES) >= 7
    assert {p.parent.parent.name for p in TRACES} >= {"jabra-gn", "poly-blackwire", "epos-sennheiser", "generic"}


def test_every_profile_ships_traces_that_pick_it() -> None:
    """Issue 2: traces for every profile; each one's header picks its own folder's profile, as a live device would."""
    from usbphone.hid.open import device_info_from_trace, select_driver
    from usbphone.hid.trace import load_trace
    from usbphone.profiles.loader import load_profiles

    for prof in load_profiles(include_local=False):
        traces = sorted((DEVICES / prof.id / "traces").glob("*.hid"))
        assert traces, f"profile {prof.id} ships no trace"
        for trace in traces:
            picked, _ = select_driver(device_info_from_trace(load_trace(trace)))
            assert picked is not None and picked.id == prof.id, trace


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_trace_matches_golden_events(trace: Path) -> None:
    events_file = trace.with_suffix(".events")
    assert events_file.is_file(), f"{trace} has no golden {events_file.name}"
    events, _ = replay_events(str(trace))
    assert [str(e) for e in events] == golden(events_file)


def test_generic_traces_have_no_profile() -> None:
    from usbphone.hid.open import device_info_from_trace, select_driver
    from usbphone.hid.trace import load_trace

    for trace in sorted((DEVICES / "generic" / "traces").glob("*.hid")):
        profile, driver = select_driver(device_info_from_trace(load_trace(trace)))
        assert profile is None and driver.name == "hid_telephony", trace

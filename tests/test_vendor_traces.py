"""The committed vendor-handset traces (Yealink, CM109, HP, serial) are what their scenarios make today, and
each still replays through `usbphone replay` to its golden events (the shared replay test covers all traces;
this one guards that regenerating them would change nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbphone.hid.simulators.scenarios import SCENARIOS, write_all

DEVICES = Path(__file__).resolve().parents[1] / "devices"


def test_scenarios_reproduce_the_committed_traces(tmp_path: Path) -> None:
    written = write_all(tmp_path)
    assert len(written) == len(SCENARIOS)
    for path in written:
        rel = path.relative_to(tmp_path)
        for suffix in (".hid", ".events"):
            committed = (DEVICES / rel).with_suffix(suffix)
            assert committed.is_file(), f"{committed} missing: run python -m usbphone.hid.simulators.scenarios devices"
            assert path.with_suffix(suffix).read_text() == committed.read_text(), f"{committed} is stale"


@pytest.mark.parametrize("rel", sorted(SCENARIOS))
def test_replay_cli_matches_golden_events(rel: str) -> None:
    from usbphone.commands.replay import replay_events

    events, _ = replay_events(str(DEVICES / f"{rel}.hid"))
    golden = [ln for ln in (DEVICES / f"{rel}.events").read_text().splitlines() if ln and not ln.startswith("#")]
    assert [str(e) for e in events] == golden

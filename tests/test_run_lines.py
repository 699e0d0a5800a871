"""Several handsets in one appliance (issue 7): each bound to a line by the config's [device] table, each
with its own Phone. Real udev path (umockdev), real pjsua2, SIPp on both sides, tshark on the wire.

An incoming call for line one rings the two handsets of line one (A bound by serial, C unbound = the default
line) and not B (line two); C answers, A stops ringing; B's outgoing call goes out as line two's user.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from peers import SCENARIOS, Capture, Sipp, free_port, require
from umockdev_devices import umockdev_available

pytestmark = [pytest.mark.peers, pytest.mark.umockdev,
              pytest.mark.skipif(not umockdev_available(), reason="needs umockdev")]
BENCH = Path(__file__).with_name("run_lines_bench.py")


def test_two_lines_three_handsets_ring_answer_and_dial_out_per_line(tmp_path: Path) -> None:
    require("sipp", "tshark")
    cap = Capture(tmp_path).start()
    uas = Sipp.uas(tmp_path, scenario="uas_answer.xml")
    domain = f"127.0.0.1:{uas.port}"
    config = tmp_path / "config.toml"
    config.write_text(f'[[account]]\nname = "one"\nuser = "alice"\ndomain = "{domain}"\n\n'
                      f'[[account]]\nname = "two"\nuser = "bob"\ndomain = "{domain}"\n\n'
                      '[device]\n"serial:A" = "one"\n"serial:B" = "two"\n')
    scenario = tmp_path / "uac_call.xml"
    scenario.write_text((SCENARIOS / "uac_call.xml").read_text().replace("@talk_ms@", "1500"))
    port, log, out = free_port(), tmp_path / "run.jsonl", tmp_path / "run-out.txt"
    try:
        proc = subprocess.run(["umockdev-wrapper", sys.executable, str(BENCH), "lines", str(config), str(log), str(out),
                               str(port), str(scenario), str(free_port()), str(free_port(pair=True))],
                              capture_output=True, text=True, timeout=240)
        steps = {m["milestone"]: m for m in (json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{"))}
        context = f"{proc.stdout}\n{proc.stderr[-2000:]}\n{out.read_text(errors='replace') if out.exists() else ''}"
        assert "failed" not in steps and "called out" in steps, context  # before waiting on a UAS never called
        uas_rc = uas.wait(30)
    finally:
        uas.stop()
        cap.finish()
    keys, lines = steps["attached"]["keys"], steps["attached"]["lines"]
    assert [lines[keys[s]] for s in "ABC"] == ["one", "two", "one"], context

    # line one's call rang A and C, not B; C answered and A stopped ringing
    assert steps["ringing"]["ringing"] == {"A": ["on"], "B": [], "C": ["on"]}, context
    assert steps["answered"]["ringing"] == {"A": ["on", "off"], "B": [], "C": ["on", "off"]}, context
    assert steps["uac"]["rc"] == 0, context  # SIPp's call was answered and ended cleanly
    records = [json.loads(x) for x in log.read_text().splitlines()]
    answers = [r for r in records if r.get("kind") == "call_command" and r["command"] == "answer"]
    assert len(answers) == 1 and answers[0]["handset"] == keys["C"], answers

    # B's call went out on line two: as bob, with the account named in the dial command
    dials = [r for r in records if r.get("kind") == "call_command" and r["command"] == "dial"]
    assert len(dials) == 1 and dials[0]["handset"] == keys["B"] and dials[0]["value"] == "two", dials
    invites = cap.fields(f'sip.Method == "INVITE" && udp.dstport == {uas.port}', "sip.from.user",
                         "sip.r-uri.user", decode=[f"udp.port=={uas.port},sip"])
    assert invites and invites[0] == ["bob", "100"], invites
    assert uas_rc == 0, uas.log()
    assert steps["stopped"]["rc"] == 0, context

    # the audio bridge followed the handset in use: C (answering), then B (calling out)
    audio = [r["handset"] for r in records if r.get("status") == "audio_handset"]
    assert keys["C"] in audio and keys["B"] in audio[audio.index(keys["C"]):], audio
    paths = {r["handset"]: r["syspath"] for r in records if r.get("status") == "audio_handset"}
    assert paths[keys["C"]] == "/sys/class/hidraw/hidraw2", paths  # C's own node: its sound card is found by it


def test_unplugged_mid_call_with_keep_the_call_goes_on_until_hung_up(tmp_path: Path) -> None:
    require("sipp", "tshark")
    cap = Capture(tmp_path).start()
    uas = Sipp.uas(tmp_path, scenario="uas_answer.xml")
    config = tmp_path / "config.toml"
    config.write_text(f'[[account]]\nname = "lan"\nuser = "alice"\ndomain = "127.0.0.1:{uas.port}"\n\n'
                      '[phone]\nunplugged_call = "keep"\n')
    log, out = tmp_path / "run.jsonl", tmp_path / "run-out.txt"
    try:
        proc = subprocess.run(["umockdev-wrapper", sys.executable, str(BENCH), "keep", str(config), str(log),
                               str(out), str(free_port())], capture_output=True, text=True, timeout=180)
        steps = {m["milestone"]: m for m in (json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{"))}
        context = f"{proc.stdout}\n{proc.stderr[-2000:]}\n{out.read_text(errors='replace') if out.exists() else ''}"
        assert "failed" not in steps and "hung up" in steps, context  # before waiting on a UAS never called
        uas_rc = uas.wait(30)
    finally:
        uas.stop()
        cap.finish()
    assert steps["after unplug"]["ended"] == 0 and steps["after unplug"]["app_alive"], context
    assert steps["replugged"]["ended"] == 0, context  # plugged back in, still lifted: same call
    byes = cap.fields(f'sip.Method == "BYE" && udp.dstport == {uas.port}', "frame.time_epoch",
                      decode=[f"udp.port=={uas.port},sip"])
    assert byes and float(byes[0][0]) >= steps["hang up"]["wall"], (byes, context)  # BYE only when hung up
    assert uas_rc == 0, uas.log()
    records = [json.loads(x) for x in log.read_text().splitlines()]
    kept = [r for r in records if r.get("status") == "call_kept"]
    assert len(kept) == 1, context
    after = [r["handset"] for r in records if r.get("status") == "audio_handset" and r["t"] > kept[0]["t"]]
    assert after[:1] == [None] and len(after) >= 2, after  # default device while unplugged, then the handset
    assert steps["stopped"]["rc"] == 0, context


def test_a_binding_to_an_unknown_line_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[account]]\nname = "one"\nuser = "alice"\n\n[device]\n"0b0e:0307" = "office"\n')
    p = subprocess.run([sys.executable, "-m", "usbphone.cli", "run", "--config", str(config)], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "[device] '0b0e:0307' = 'office': no [[account]] named 'office'" in p.stderr, p.stderr

"""The real-kernel appliance test in the default suite: runs tools/vm/vmtest.py (what `make test-vm` runs) once.

A pinned Debian kernel boots under QEMU (TCG) with the project in its initramfs; inside, a handset made with
/dev/uhid from devices/jabra-gn/traces/gn-call-keypad.hid meets the generated udev rule, `usbphone run` (as
the unprivileged user usbphone) attaches it through the hidraw transport, the replayed lift + dial reaches
SIPp on the guest's loopback, unplugging it mid-call sends the BYE, and the dial tone lands in the WAV file
of QEMU's usb-audio device. Each step is one RESULT line (tools/vm/guest_test.py); this file asserts them.
Skips with the reason where QEMU is missing or the image cannot be built (not root). A cold run builds the
image (~1.5 min, cached in .cache/vm); a warm run takes under a minute. The host-side WAV analysis is also
tested on its own with synthetic WAVs (no QEMU needed). Edit when a RESULT is added.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
VMTEST = ROOT / "tools" / "vm" / "vmtest.py"
APPLIANCE = ("boot", "sound-card", "app-ready", "hidraw-node", "udev-rule", "app-attached", "doctor",
             "call-reaches-sipp", "handset-outputs", "bye-on-unplug", "replug-reattached", "replug-hook-state",
             "daemon-survives", "vm-finished", "usb-audio-reference")
AUDIO = ("dial-tone-device", "dial-tone-wav")
BUDGET_S = 900  # cold image build + boot, on a busy 2-core machine

pytestmark = [pytest.mark.vm, pytest.mark.timeout(BUDGET_S + 60)]


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is missing: `tools/setup.sh test` installs qemu-system-x86 (VM test)")
    work = tmp_path_factory.mktemp("vm")
    report = work / "report.json"
    # its own session, so QEMU (vmtest.py's child) goes too when this is cut short
    proc = subprocess.Popen([sys.executable, str(VMTEST), "--report", str(report), "--keep", str(work)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=BUDGET_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if not report.exists():
        pytest.fail(f"vmtest.py wrote no report (exit {proc.returncode}):\n{stdout[-4000:]}")
    data = json.loads(report.read_text())
    if data["exit"] == 77:
        pytest.skip(f"VM test cannot run here: {data['why']}")
    data["log"] = stdout
    data["dir"] = str(work)
    return data


def _verdicts(vm: dict[str, Any], names: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: vm["results"].get(name, ["FAIL", "no RESULT line"]) for name in names}


def test_appliance_on_a_real_kernel(vm: dict[str, Any]) -> None:
    got = _verdicts(vm, APPLIANCE)
    failed = {name: detail for name, (verdict, detail) in got.items() if verdict != "PASS"}
    failed |= {name: detail for name, (verdict, detail) in vm["results"].items()
               if verdict == "FAIL" and name not in AUDIO}  # a RESULT this list does not name yet
    assert not failed, (f"VM RESULTs not passing: {json.dumps(failed, indent=1)}\nserial log and WAV in {vm['dir']}; "
                        f"last output:\n{vm['log'][-4000:]}")


def test_dial_tone_reaches_the_usb_sound_card(vm: dict[str, Any]) -> None:
    got = _verdicts(vm, AUDIO)
    if got["dial-tone-device"][0] == "SKIP":
        pytest.skip(got["dial-tone-device"][1])
    assert got["dial-tone-device"][0] == "PASS", got["dial-tone-device"][1]
    assert got["dial-tone-wav"][0] == "PASS", f"{got['dial-tone-wav'][1]} (WAV in {vm['dir']})"


def _load_vmtest() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("vmtest", VMTEST)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _write_wav(path: Path, parts: list[tuple[float, tuple[float, ...]]], rate: int = 44100) -> None:
    """Stereo 16-bit WAV: each part is (seconds, frequencies); no frequencies = silence."""
    import array
    import math
    import wave

    samples = array.array("h")
    for seconds, freqs in parts:
        for i in range(int(seconds * rate)):
            v = sum(math.sin(2 * math.pi * f * i / rate) for f in freqs) * 6000 if freqs else 0.0
            samples.extend((int(v), int(v)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def test_the_wav_check_tells_the_dial_tone_from_other_tones(tmp_path: Path) -> None:
    """The host-side WAV analysis itself (no QEMU needed): reference, dial tone, gaps, a busy tone."""
    vmtest = _load_vmtest()
    good = tmp_path / "good.wav"
    _write_wav(good, [(1.0, (1000.0,)), (0.5, ()), (2.0, (350.0, 440.0)), (0.3, ())])
    found, summary = vmtest.wav_tones(good)
    assert found["reference"] == pytest.approx(1.0, abs=0.25), summary
    assert found["dial"] == pytest.approx(2.0, abs=0.25), summary
    busy = tmp_path / "busy.wav"
    _write_wav(busy, [(2.0, (480.0, 620.0))])  # the US busy tone: audible, but not a dial tone
    found, summary = vmtest.wav_tones(busy)
    assert found == {"reference": 0.0, "dial": 0.0}, summary
    found, summary = vmtest.wav_tones(tmp_path / "missing.wav")
    assert not found and "empty" in summary

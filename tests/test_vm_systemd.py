"""The appliance on a real kernel with systemd as PID 1: QEMU (TCG) boots a pinned Debian kernel.

Complements tests/test_vm.py (tools/vm/: a shell /init that runs `usbphone run` itself, dial tone checked in
the WAV): here systemd is PID 1, so the udev rule's SYSTEMD_WANTS really starts the *installed, hardened*
usbphone.service (User=usbphone, DevicePolicy=closed + DeviceAllow, ProtectSystem=strict, LoadCredential=)
and the test shows that hardening leaves the service able to open the handset and place a call.

tools/vm_systemd/build-image.sh builds (and caches) the image: Debian 12 with udev and SIPp, this project
and its .venv, and what `usbphone install --prefix /usr` installs (generated udev rules, hardened
usbphone.service, sysusers entry, config). tests/vm_systemd/guest_check.py then runs in the guest: a uhid
headset appears → the generated rule tags it (group usbphone, 0660, SYSTEMD_WANTS) → systemd starts
usbphone.service as user usbphone → it opens the real hidraw node → lifting it plays the dial tone into
QEMU's usb-audio card (found here in the WAV) → 100# calls SIPp on the guest's loopback → the uhid device
is destroyed mid-call → BYE (the 1 s bound is checked on the host; 3 s under TCG) and the daemon keeps
running. Each check prints a RESULT line on the serial console, which this test parses.
Cold ≈ 1.5 min (mmdebstrap + kernel download), warm < 1 min. A guest that cannot run the check (e.g. its
unit fails) or does not finish powers itself off with RESULT … FAIL, unit status and journal tail on the
console (tests/vm_systemd/watchdog.sh), and the assertion message shows that console.
Skipped where QEMU, mmdebstrap or cpio is missing or when not root (mmdebstrap, cpio ownership).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "tools" / "vm_systemd" / "build-image.sh"
EXPECTED = ["usb-sound-card", "hidraw-node", "udev-rule-fired", "node-permissions", "service-started-by-udev",
            "service-user", "device-opened", "call-reaches-sipp", "output-reports", "bye-after-unplug",
            "sipp-scenario", "daemon-keeps-running", "secret-not-logged"]

# Bounds: a cold image build (mmdebstrap + kernel download; measured ~1.5-3 min) up to BUILD_TIMEOUT_S, then
# the boot. The guest's own watchdog (tests/vm_systemd/usbphone-vmtest-watchdog.service, 300 s after boot; a warm
# run needs ~30 s in the guest)
# powers the VM off with a RESULT … FAIL report first; QEMU_TIMEOUT_S is only for a guest too broken for that.
BUILD_TIMEOUT_S = 600
QEMU_TIMEOUT_S = 420
pytestmark = [pytest.mark.vm, pytest.mark.timeout(BUILD_TIMEOUT_S + QEMU_TIMEOUT_S + 60)]
DIAL_TONE_HZ = (350.0, 440.0)  # US dial tone (ITU-T E.180 national tones; the Phone's default country)


def dial_tone_seconds(path: Path) -> float:
    """How long the dial tone (350 + 440 Hz, most of the power, not silence) lasts in a WAV, in 0.25 s steps."""
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, channels)[:, 0]
    win = rate // 4
    freqs = np.fft.rfftfreq(win, 1 / rate)
    near = np.zeros_like(freqs, dtype=bool)
    for f in DIAL_TONE_HZ:
        near |= np.abs(freqs - f) < 15
    hits = 0
    for start in range(0, len(samples) - win, win):
        seg = samples[start:start + win].astype(float)
        if np.sqrt(np.mean(seg ** 2)) < 100:  # silence (or dither)
            continue
        power = np.abs(np.fft.rfft(seg * np.hanning(win))) ** 2
        both = all(power[np.abs(freqs - f) < 15].sum() > 0.1 * power.sum() for f in DIAL_TONE_HZ)
        if both and power[near].sum() > 0.6 * power.sum():
            hits += 1
    return hits / 4


def _missing() -> str:
    tools = [t for t in ("qemu-system-x86_64", "mmdebstrap", "cpio", "apt-get") if not shutil.which(t)]
    if tools:
        return f"missing {', '.join(tools)} (Debian packages qemu-system-x86, mmdebstrap, cpio)"
    if os.geteuid() != 0:
        return "needs root (mmdebstrap, root-owned files in the initramfs)"
    if not (ROOT / ".venv" / "bin" / "usbphone").exists():
        return "needs the project's .venv (tools/setup.sh test)"
    return ""


@pytest.mark.skipif(bool(_missing()), reason=_missing() or "ok")
def test_appliance_in_qemu(tmp_path: Path) -> None:
    build = subprocess.run([str(BUILD), str(tmp_path)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, build.stdout + build.stderr
    paths = dict(line.split("=", 1) for line in build.stdout.splitlines() if "=" in line)
    console = tmp_path / "console.log"
    wav = tmp_path / "usb-audio.wav"
    # TCG: the host's KVM is not usable on these machines (recipes §7); plain usb-ehci refuses usb-audio
    qemu = ["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "2048",
            "-nographic", "-no-reboot", "-nodefaults", "-serial", f"file:{console}", "-monitor", "none",
            "-kernel", paths["kernel"], "-initrd", paths["initrd"],
            "-append", "console=ttyS0 panic=-1 rdinit=/lib/systemd/systemd systemd.show_status=error loglevel=4",
            "-audiodev", f"wav,id=snd0,path={wav}", "-device", "qemu-xhci,id=usbhc",
            "-device", "usb-audio,audiodev=snd0,bus=usbhc.0"]
    started = time.monotonic()
    try:
        subprocess.run(qemu, capture_output=True, timeout=QEMU_TIMEOUT_S)
        ended = f"QEMU exited after {time.monotonic() - started:.0f} s"
    except subprocess.TimeoutExpired:  # subprocess.run has killed QEMU; judged by what reached the console
        ended = f"QEMU killed after {QEMU_TIMEOUT_S} s (not even the guest watchdog reported)"
    log = console.read_text(errors="replace") if console.exists() else ""
    results = dict(re.findall(r"RESULT (\S+) (PASS|FAIL)", log))
    tail = "\n".join(line for line in log.splitlines() if re.search(r"RESULT|NOTE|DONE|Traceback", line))
    summary = "\n".join(line for line in log.splitlines() if re.search(r"RESULT|DONE", line))
    console_tail = f"{ended}\n{summary}\n--- console (last 6000 characters):\n{log[-6000:]}"
    assert "DONE" in log, f"the guest check did not finish; {console_tail}"
    failed = [name for name, status in results.items() if status != "PASS"]
    assert not failed, f"failed in the VM: {failed}; {console_tail}"
    assert [name for name in EXPECTED if name not in results] == [], tail
    assert re.search(r"BYE ([0-9.]+) s after destroy", log), tail  # bound checked in the guest (TCG: 3 s)
    # the hardened service played the dial tone into the USB sound card (DeviceAllow=char-alsa is enough)
    assert wav.exists(), tail
    assert dial_tone_seconds(wav) >= 1.0, f"{dial_tone_seconds(wav)} s of dial tone in {wav}\n{tail}"

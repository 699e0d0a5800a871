#!/usr/bin/env python3
"""`make test-vm`: the real-kernel appliance test. Boots a pinned Debian kernel under QEMU (TCG) with the
project in its initramfs, runs tools/vm/guest_test.py there and checks QEMU's usb-audio WAV on the host.

    tools/vm/vmtest.py [--trace FILE] [--report FILE] [--timeout S] [--cache DIR] [--rebuild]

1. Base image (cached in .cache/vm/<key>/, key = tools/vm/mkimage.sh + cpio.py + the kernel pin + the pinned
   dependency list + RUN_DEBS in tools/setup.sh): tools/vm/mkimage.sh builds the kernel and root filesystem
   (needs root, ~1 min), packed here into an uncompressed newc cpio.
2. Per-run overlay cpio (the kernel unpacks it over the base): /init (tools/vm/guest-init), the project's
   usbphone/ and devices/, the udev rules `usbphone udev-rules` generates, the trace, guest_test.py and its
   params.json.
3. QEMU: ``-accel tcg,thread=multi -cpu max`` (KVM does not boot stock guests on these machines), qemu-xhci +
   usb-audio writing a WAV file; the serial console is echoed with a ``vm|`` prefix and parsed for
   ``RESULT name PASS|FAIL|SKIP detail`` lines; the guest powers itself off (sysrq o).
4. Host checks: ``vm-finished`` (the guest test ran to its end within the timeout), ``usb-audio-reference``
   (the 1 kHz tone the guest played with aplay is in the WAV: the emulated card works) and ``dial-tone-wav``
   (at least 1 s of the US dial tone, 350 + 440 Hz, that `usbphone run` played on lifting the handset;
   Goertzel power per 0.25 s window).

Exit status: 0 all PASS (SKIP allowed), 1 a FAIL or a missing RESULT, 77 cannot run here (no qemu; not root
and no cached image); the reason is printed. ``--report`` writes {"results": {name: [verdict, detail]}, ...}
as JSON (tests/test_vm.py reads it). Recipe: ../shared/recipes/real-peers-and-audio.md §7.
Edit when the boot or the host-side checks change; the guest scenario is guest_test.py.
"""

from __future__ import annotations

import argparse
import array
import fcntl
import hashlib
import json
import math
import os
import py_compile
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from cpio import CpioWriter, pack_tree  # noqa: E402

DEFAULT_TRACE = "devices/jabra-gn/traces/gn-call-keypad.hid"
# How the trace is played (guest_test.replay; the times come from the trace, see scenario_for): up to its
# lift, then the test listens to the dial tone for listen_s, then the dialling plays as recorded and the
# replay stops before the first event after it: the rest of the recorded call (for gn-call-keypad.hid: mute,
# flash, hang-up) is replaced by the unplug. bye_within_s is generous: the product's 1 s promise is measured
# on the host (tests/test_hotplug_call_umockdev.py); TCG runs the guest ~10x slower.
SCENARIO = {"listen_s": 3.0, "talk_s": 1.5, "bye_within_s": 3.0, "sipp_port": 5070, "app_sip_port": 5062}
GUEST_RESULTS = ("boot", "sound-card", "app-ready", "hidraw-node", "udev-rule", "app-attached", "doctor",
                 "call-reaches-sipp", "handset-outputs", "bye-on-unplug", "replug-reattached", "replug-hook-state",
                 "daemon-survives", "dial-tone-device")
HOST_RESULTS = ("vm-finished", "usb-audio-reference", "dial-tone-wav")
DIAL_TONE_HZ = (350.0, 440.0)  # US dial tone (the app's default country); source: ITU-T E.180 Suppl. 2 (USA)
REFERENCE_HZ = 1000.0  # guest_test.play_reference_tone: 1 s straight to the card with aplay
MIN_DIAL_TONE_S = 1.0  # the test listens SCENARIO["listen_s"] s; allow for the stream's start-up
SKIP = 77
BUILD_TIMEOUT_S = 600  # measured 35-60 s; a stuck mirror must not eat the CI budget
GUEST_PYTHON = (3, 11)  # Debian 12's python3, the guest's interpreter
RESULT_RE = re.compile(r"^RESULT (\S+) (PASS|FAIL|SKIP)\s?(.*)$")


def say(text: str) -> None:
    print(f"vmtest: {text}", flush=True)


# --- the cached base image -------------------------------------------------------------------------------
def image_key() -> str:
    h = hashlib.sha256()
    for name in ("mkimage.sh", "cpio.py"):
        h.update((HERE / name).read_bytes())
    run_debs = [ln for ln in (PROJECT / "tools" / "setup.sh").read_text().splitlines() if ln.startswith("RUN_DEBS=")]
    h.update("\n".join(run_debs).encode())  # mkimage.sh installs RUN_DEBS in the guest
    h.update(os.environ.get("USBPHONE_VM_KERNEL", "").encode())
    h.update(os.environ.get("GUEST_DEBS", "").encode())
    deps = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    h.update("\n".join(deps).encode())
    return h.hexdigest()[:16]


class CannotRun(Exception):
    """The VM test cannot run on this machine (exit 77, the reason is the message)."""


def host_codename(os_release: str = "/etc/os-release") -> str:
    try:
        text = Path(os_release).read_text()
    except OSError:
        return ""
    m = re.search(r"^VERSION_CODENAME=\"?([^\"\n]*)", text, re.M)
    return m.group(1) if m else ""


def remove_tree(path: Path) -> None:
    """rm -rf, but never into a mount point (an interrupted mmdebstrap may leave /proc, /sys or /dev mounted
    in its chroot: removing through those would delete the host's files)."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        mounted = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    if mounted:
        raise CannotRun(f"{path} still has mounts inside ({', '.join(mounted[:3])}): unmount them, then remove it")
    shutil.rmtree(path)


def ensure_image(cache: Path, rebuild: bool) -> Path:
    """The directory holding vmlinuz + base.cpio, built when missing. Raises CannotRun when it cannot."""
    key = image_key()
    img = cache / key
    if not rebuild and (img / "base.cpio").is_file() and (img / "vmlinuz").is_file():
        say(f"base image {img} (cached)")
        return img
    if os.geteuid() != 0:
        raise CannotRun("building the VM image needs root (mmdebstrap, dpkg -x): run `make test-vm` as root")
    if shutil.which("mmdebstrap") is None:
        raise CannotRun("mmdebstrap is missing: run `tools/setup.sh test` (installs mmdebstrap, qemu-system-x86)")
    if host_codename() != "bookworm":
        raise CannotRun(f"the VM image is built from this host's Debian 12 (bookworm) apt sources; this host is "
                        f"{host_codename() or 'unknown'}")
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.iterdir():  # one image at a time: each is ~300 MB
        if old.is_dir() and old.name != key:  # (the caller holds the cache lock: nobody boots from it)
            remove_tree(old)
    remove_tree(img)  # a half-built one
    t0 = time.monotonic()
    say(f"building the base image in {img} (kernel + Debian rootfs + wheels; ~2 min)")
    build = img / "build"
    proc = subprocess.Popen([str(HERE / "mkimage.sh"), str(build)], start_new_session=True)
    try:
        rc = proc.wait(BUILD_TIMEOUT_S)
    finally:  # timeout or SIGTERM: mmdebstrap and apt go too (TERM first: mmdebstrap unmounts on the way out)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    if rc != 0:
        raise subprocess.CalledProcessError(rc, "tools/vm/mkimage.sh")
    pack_tree(build / "root", img / "base.cpio")
    shutil.copy2(build / "vmlinuz", img / "vmlinuz")
    shutil.copy2(build / "kernel-release", img / "kernel-release")
    shutil.rmtree(build)
    size = (img / "base.cpio").stat().st_size
    say(f"base image built in {time.monotonic() - t0:.0f} s ({size / 1e6:.0f} MB cpio)")
    return img


# --- the per-run overlay ---------------------------------------------------------------------------------
def _add_tree(w: CpioWriter, src: Path, dest: str, dirs: set[str], scratch: Path) -> None:
    """Copy ``src`` to ``dest``; .py files also byte-compiled when this Python is the guest's 3.11 (the guest
    runs the code as a user who cannot write __pycache__, and compiling under TCG costs seconds per process).
    The .pyc files are "unchecked-hash" ones: valid whatever the files' times are in the archive."""
    compile_here = sys.version_info[:2] == GUEST_PYTHON
    for path in sorted(src.rglob("*")):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        rel = f"{dest}/{path.relative_to(src)}"
        if path.is_dir():
            _mkdirs(w, rel, dirs)
        elif path.is_file():
            parent = rel.rsplit("/", 1)[0]
            _mkdirs(w, parent, dirs)
            w.add_file(rel, path.read_bytes(), 0o755 if os.access(path, os.X_OK) else 0o644)
            if compile_here and path.suffix == ".py":
                pyc = scratch / "x.pyc"
                py_compile.compile(str(path), cfile=str(pyc), dfile="/" + rel, doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                _mkdirs(w, f"{parent}/__pycache__", dirs)
                w.add_file(f"{parent}/__pycache__/{path.stem}.{sys.implementation.cache_tag}.pyc", pyc.read_bytes())


def _mkdirs(w: CpioWriter, path: str, dirs: set[str]) -> None:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in dirs:
            dirs.add(d)
            w.add_dir(d)


def generated_rules() -> bytes:
    """What `usbphone udev-rules` prints from this tree's built-in profiles (the product generates them)."""
    out = subprocess.run([sys.executable, "-m", "usbphone.cli", "udev-rules"], cwd=PROJECT, capture_output=True,
                         check=True)
    return out.stdout


def scenario_for(trace: Path) -> dict[str, object]:
    """When the trace lifts, what it dials and where the dialling ends, decoded by usbphone itself (the same
    driver path `usbphone replay` uses). Raises ValueError for a trace that does not lift and dial."""
    from usbphone.commands.replay import replay_events
    from usbphone.hid.trace import load_trace

    if not load_trace(trace).descriptor:
        raise ValueError(f"{trace}: no report descriptor (R: line): uhid can only make HID handsets from a trace")
    events, _ = replay_events(str(trace))
    lift = next((e.t for e in events if e.kind == "hook" and e.value == "off"), None)
    if lift is None:
        raise ValueError(f"{trace}: the trace never lifts the hook (no 'hook off' event)")
    number, last_key, until = "", None, None
    for e in events:
        if e.t <= lift:
            continue
        if e.kind in ("key", "key_up"):
            if e.kind == "key" and e.value != "#":
                number += e.value
            last_key = e.t
            if e.kind == "key_up" and e.value == "#":  # the send key: dialling is over
                continue
        elif last_key is not None:
            until = e.t  # the first other event after the dialling (stop before it)
            break
        elif e.kind == "hook":
            break  # hung up before dialling
    if not number or last_key is None:
        raise ValueError(f"{trace}: no digits dialled between the lift and the hang-up")
    return {"listen_after": lift, "replay_until": until if until is not None else last_key + 0.5,
            "number": number}


def write_overlay(path: Path, trace: Path) -> None:
    dirs: set[str] = set()
    params = {**SCENARIO, **scenario_for(trace), "trace": "handset.hid", "trace_name":
              str(trace.relative_to(PROJECT)) if trace.is_relative_to(PROJECT) else trace.name}
    with open(path, "wb") as f:
        w = CpioWriter(f)
        w.add_file("init", (HERE / "guest-init").read_bytes(), 0o755)
        _mkdirs(w, "opt/usbphone/vm", dirs)
        w.add_file("opt/usbphone/vm/guest_test.py", (HERE / "guest_test.py").read_bytes())
        w.add_file("opt/usbphone/vm/params.json", json.dumps(params, indent=1).encode())
        w.add_file("opt/usbphone/vm/handset.hid", trace.read_bytes())
        _add_tree(w, PROJECT / "usbphone", "opt/usbphone/src/usbphone", dirs, path.parent)
        _add_tree(w, PROJECT / "devices", "opt/usbphone/src/devices", dirs, path.parent)
        _mkdirs(w, "etc/udev/rules.d", dirs)
        w.add_file("etc/udev/rules.d/70-usbphone.rules", generated_rules())
        w.close()


# --- QEMU --------------------------------------------------------------------------------------------------
def boot(img: Path, overlay: Path, wav: Path, log: Path, timeout: float, accel: str) -> tuple[list[str], bool]:
    """Run the VM; returns (serial console lines, finished in time)."""
    initrd = overlay.with_name("initrd.cpio")
    with open(initrd, "wb") as out:  # base + overlay: QEMU takes one -initrd file
        for part in (img / "base.cpio", overlay):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    guest_budget = int(timeout - 60)
    cmd = ["qemu-system-x86_64", "-accel", accel, "-cpu", "max", "-smp", "2", "-m", "2048",
           "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none",
           "-kernel", str(img / "vmlinuz"), "-initrd", str(initrd),
           "-append", f"console=ttyS0 panic=-1 rdinit=/init loglevel=4 usbphone.timeout={guest_budget}",
           "-audiodev", f"wav,id=snd0,path={wav}", "-device", "qemu-xhci,id=usbhc",
           "-device", "usb-audio,audiodev=snd0,bus=usbhc.0"]
    say("booting: " + " ".join(cmd))
    lines: list[str] = []
    t0 = time.monotonic()
    with open(log, "w") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                lines.append(line)
                logf.write(line + "\n")
                logf.flush()
                print(f"vm| {line}", flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        finished = False
        try:
            proc.wait(timeout)
            finished = True
        except subprocess.TimeoutExpired:
            say(f"the VM did not power off within {timeout:.0f} s: killing it")
        finally:  # also on Ctrl-C / SIGTERM: never leave QEMU behind
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        reader.join(10)
    initrd.unlink()
    say(f"VM ran {time.monotonic() - t0:.1f} s (qemu exit {proc.returncode})")
    return lines, finished


# --- host-side audio check ---------------------------------------------------------------------------------
def goertzel_power(x: list[float], rate: int, freq: float) -> float:
    """Mean power of the ``freq`` component of ``x`` (a sine of amplitude A gives A**2 / 2)."""
    k = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    return 2.0 * (s1 * s1 + s2 * s2 - k * s1 * s2) / len(x) ** 2


def wav_tones(wav: Path) -> tuple[dict[str, float], str]:
    """Seconds of the WAV (0.25 s windows) that are mostly the reference tone / the dial tone, and a summary."""
    if not wav.exists() or wav.stat().st_size <= 44:
        return {}, f"{wav.name}: empty (nothing was played on the usb-audio device)"
    with wave.open(str(wav)) as w:
        rate, channels, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width != 2:
        return {}, f"{wav.name}: {8 * width}-bit samples, expected 16"
    mono = array.array("h", raw)[::channels]
    win = rate // 4
    found = {"reference": 0.0, "dial": 0.0}
    for start in range(0, len(mono) - win + 1, win):
        chunk = [v / 32768 for v in mono[start:start + win]]
        total = sum(v * v for v in chunk) / win
        if total < 1e-6:  # below -60 dBFS: silence
            continue
        if goertzel_power(chunk, rate, REFERENCE_HZ) > 0.6 * total:
            found["reference"] += win / rate
        parts = [goertzel_power(chunk, rate, f) for f in DIAL_TONE_HZ]
        if sum(parts) > 0.6 * total and min(parts) > 0.25 * max(parts):
            found["dial"] += win / rate
    summary = (f"{wav.name}: {len(mono) / rate:.1f} s at {rate} Hz x{channels}; {found['reference']:.2f} s of the "
               f"1 kHz reference, {found['dial']:.2f} s of 350+440 Hz dial tone")
    return found, summary


# --- the whole run --------------------------------------------------------------------------------------
def parse_results(lines: list[str]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for line in lines:
        m = RESULT_RE.match(line.strip())
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", default=DEFAULT_TRACE,
                    help="handset trace (hid-recorder format) to plug in: it must lift the hook and dial")
    ap.add_argument("--report", help="write the results as JSON to this file")
    ap.add_argument("--timeout", type=float, default=480.0, help="seconds for the boot and guest test")
    ap.add_argument("--cache", default=str(PROJECT / ".cache" / "vm"), help="image cache directory")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the base image even when cached")
    ap.add_argument("--keep", metavar="DIR", help="keep the serial log and WAV in DIR")
    ap.add_argument("--accel", default="tcg,thread=multi",
                    help="QEMU accelerator (default TCG: KVM does not boot stock guests on every CI host; "
                         "'kvm' where it works is ~10x faster)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind (QEMU killed, temp files removed)

    def report(results: dict[str, tuple[str, str]], code: int, why: str = "") -> int:
        if args.report:
            Path(args.report).write_text(json.dumps({"results": results, "exit": code, "why": why}, indent=1))
        return code

    if shutil.which("qemu-system-x86_64") is None:
        why = "qemu-system-x86_64 is missing: run `tools/setup.sh test` (installs qemu-system-x86)"
        say(why)
        return report({}, SKIP, why)
    trace = (PROJECT / args.trace).resolve()
    if not trace.is_file():
        say(f"no trace {trace}")
        return report({}, 1, f"no trace {trace}")
    t0 = time.monotonic()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    lock = open(cache / ".lock", "w")  # noqa: SIM115 - held until exit: one VM test per cache at a time
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"another VM test holds {cache}/.lock: waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        img = ensure_image(cache, args.rebuild)
    except CannotRun as exc:
        say(f"cannot run here: {exc}")
        return report({}, SKIP, str(exc))
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        say(f"image build failed ({exc})")
        return report({}, 1, "image build failed")
    with tempfile.TemporaryDirectory(prefix="usbphone-vm-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        overlay, wav, log = work / "overlay.cpio", work / "usb-audio.wav", work / "serial.log"
        try:
            write_overlay(overlay, trace)
        except ValueError as exc:
            say(str(exc))
            return report({}, 1, str(exc))
        lines, finished = boot(img, overlay, wav, log, args.timeout, args.accel)
        results = parse_results(lines)
        done = any(line.startswith("DONE ") for line in lines)
        results["vm-finished"] = ("PASS" if finished and done else "FAIL",
                                  "guest test ran to its end and the VM powered off" if finished and done else
                                  f"powered off: {finished}, guest test finished: {done}")
        found, detail = wav_tones(wav)
        ref = found.get("reference", 0.0)
        results["usb-audio-reference"] = ("PASS" if ref >= 0.5 else "FAIL", detail)
        dial = found.get("dial", 0.0)
        if results.get("dial-tone-device", ("", ""))[0] == "SKIP" and dial < MIN_DIAL_TONE_S:
            results["dial-tone-wav"] = ("SKIP", "no dial tone expected (the app opened no sound device); " + detail)
        else:
            results["dial-tone-wav"] = ("PASS" if dial >= MIN_DIAL_TONE_S else "FAIL",
                                        f"want >= {MIN_DIAL_TONE_S} s of dial tone; {detail}")
    missing = [n for n in GUEST_RESULTS + HOST_RESULTS if n not in results]
    for name in missing:
        results[name] = ("FAIL", "no RESULT line (the guest test stopped before this step)")
    say(f"results after {time.monotonic() - t0:.0f} s:")
    for name, (verdict, detail) in results.items():
        print(f"  {verdict:4} {name}: {detail}", flush=True)
    failed = [n for n, (v, _) in results.items() if v == "FAIL"]
    code = 1 if failed else 0
    say(f"{'FAILED: ' + ', '.join(failed) if failed else 'all passed'}")
    return report(results, code)


if __name__ == "__main__":
    sys.exit(main())

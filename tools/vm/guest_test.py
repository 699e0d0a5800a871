"""Runs inside the appliance-test VM (real kernel, real udev; started by tools/vm/guest-init as root).

The story, each step printed as ``RESULT <name> PASS|FAIL|SKIP <detail>`` on the serial console for
tools/vm/vmtest.py to parse:

1. ``boot``: the pinned kernel runs, the project and its pinned dependencies import (pjsua2 included).
2. ``sound-card``: QEMU's usb-audio device is bound by snd-usb-audio, and usbphone's own card matching
   (usbphone.audio.devices: sysfs USB parent -> ALSA card -> PortAudio index) finds it. Then 1 s of 1 kHz
   goes straight to the card with aplay, the host's baseline that the emulated card carries sound.
3. ``app-ready``: `usbphone run` starts as the unprivileged service user ``usbphone`` (setpriv, no
   capabilities) with a config that dials bare numbers at the SIPp peer on the guest's loopback.
4. ``hidraw-node`` / ``udev-rule``: the handset is created with /dev/uhid from a trace (UHID_CREATE2 with the
   trace's ids and report descriptor); the kernel makes a real hidraw node, and the generated rule gives it
   the profile, group usbphone, mode 0660 and the uaccess/systemd tags.
5. ``app-attached``: the appliance's hotplug monitor sees it and opens the node through its hidraw
   transport (the kernel reports UHID_OPEN; the app's process holds /dev/hidrawN). ``doctor``: `usbphone
   doctor` as the service user finds the installed rules current and the node openable, no problem.
6. ``call-reaches-sipp``: the trace's input reports are replayed as UHID_INPUT2 with their timing (lift,
   dial, send); SIPp receives the INVITE for the dialled number and the call is answered (ACK).
   ``handset-outputs``: the app wrote output reports (LEDs) that arrived as UHID_OUTPUT.
7. ``bye-on-unplug``: UHID_DESTROY mid-call; SIPp receives the BYE (the delay is reported; the product
   promises 1 s, the bound here is params["bye_within_s"] since TCG is slow).
   ``replug-reattached`` / ``replug-hook-state``: the same handset plugged in again, still lifted, is reopened
   and its hook state is taken from its first report. ``daemon-survives``: the app kept running through
   unplug and replug, and a SIGTERM stops it cleanly (exit 0).
8. ``dial-tone-device``: the app opened the sound device (an ALSA asym PCM: the usb-audio card as the
   earpiece, snd-aloop as the microphone, since usb-audio is playback only) when the handset was lifted;
   the tone itself is checked on the host, in the WAV file QEMU's usb-audio device writes (vmtest.py).

Reads /opt/usbphone/vm/params.json (written by vmtest.py). Always exits 0 once it has started: the verdict is
in the RESULT lines. Edit when the appliance scenario changes; host-side checks live in vmtest.py.
"""

from __future__ import annotations

import array
import grp
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
T0 = time.monotonic()
RESULTS: dict[str, str] = {}
STARTED: list[subprocess.Popen[bytes]] = []  # stopped on the way out, whatever happened

# struct uhid_event and its request types; source: linux include/uapi/linux/uhid.h
UHID_DESTROY, UHID_START, UHID_STOP, UHID_OPEN, UHID_CLOSE, UHID_OUTPUT = 1, 2, 3, 4, 5, 6
UHID_GET_REPORT, UHID_GET_REPORT_REPLY, UHID_CREATE2, UHID_INPUT2 = 9, 10, 11, 12
UHID_SET_REPORT, UHID_SET_REPORT_REPLY = 13, 14
UHID_DATA_MAX = 4096
HID_MAX_DESCRIPTOR_SIZE = 4096
UHID_EVENT_SIZE = 4 + 128 + 64 + 64 + 2 + 2 + 4 * 4 + HID_MAX_DESCRIPTOR_SIZE  # the create2 member is largest
EIO = 5
BUS_USB = 3  # source: linux include/uapi/linux/input.h

# QEMU's usb-audio device; source: ../shared/recipes/real-peers-and-audio.md §7 ("enumerates as 46f4:0002")
QEMU_AUDIO_VID_PID = ("46f4", "0002")


def result(name: str, verdict: bool | str, detail: str = "") -> bool:
    word = verdict if isinstance(verdict, str) else ("PASS" if verdict else "FAIL")
    RESULTS[name] = word
    print(f"RESULT {name} {word} {detail}".rstrip(), flush=True)
    return word == "PASS"


def note(text: str) -> None:
    print(f"NOTE {time.monotonic() - T0:7.2f} {text}", flush=True)


def wait_for(pred: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def run(*argv: str, timeout: float = 60) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return (proc.stdout + proc.stderr).strip()


class Uhid:
    """One virtual HID device on /dev/uhid; a reader thread answers the kernel and records what it says."""

    def __init__(self) -> None:
        self.fd = os.open("/dev/uhid", os.O_RDWR | os.O_CLOEXEC)
        self.opened = threading.Event()
        self.outputs: list[bytes] = []
        self.events: list[int] = []
        self.state: dict[int, bytes] = {}  # last input report per first byte (report id): the device's state
        threading.Thread(target=self._reader, name="uhid", daemon=True).start()

    def create(self, name: str, phys: str, bus: int, vid: int, pid: int, descriptor: bytes) -> None:
        req = struct.pack("<I128s64s64sHHIIII", UHID_CREATE2, name.encode()[:127], phys.encode()[:63],
                          b"", len(descriptor), bus, vid, pid, 0, 0) + descriptor
        os.write(self.fd, req)

    def input(self, data: bytes) -> None:
        os.write(self.fd, struct.pack("<IH", UHID_INPUT2, len(data)) + data)
        self.state[data[0]] = data

    def destroy(self) -> None:
        os.write(self.fd, struct.pack("<I", UHID_DESTROY))

    def close(self) -> None:
        os.close(self.fd)

    def _reader(self) -> None:
        while True:
            try:
                ev = os.read(self.fd, UHID_EVENT_SIZE)
            except OSError:
                return
            if len(ev) < 4:
                continue
            kind = struct.unpack_from("<I", ev)[0]
            self.events.append(kind)
            if kind == UHID_OPEN:
                self.opened.set()
            elif kind == UHID_OUTPUT:  # struct uhid_output_req: data[4096], __u16 size, __u8 rtype
                size = struct.unpack_from("<H", ev, 4 + UHID_DATA_MAX)[0]
                self.outputs.append(bytes(ev[4:4 + size]))
            elif kind == UHID_GET_REPORT:  # like a device: the current state of that report, else EIO
                req_id, rnum = struct.unpack_from("<IB", ev, 4)
                data = self.state.get(rnum, b"")
                os.write(self.fd, struct.pack("<IIHH", UHID_GET_REPORT_REPLY, req_id, 0 if data else EIO, len(data))
                         + data)
            elif kind == UHID_SET_REPORT:
                req_id = struct.unpack_from("<I", ev, 4)[0]
                os.write(self.fd, struct.pack("<IIH", UHID_SET_REPORT_REPLY, req_id, 0))


class SippLog:
    """SIPp's -trace_msg file: which requests it received, and when this process first saw each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, float] = {}

    def requests(self) -> list[str]:
        try:
            text = self.path.read_text(errors="replace")
        except OSError:
            return []
        found = re.findall(r"message received[^\n]*\n\s*\n([A-Z]+) (\S+) SIP/2\.0", text)
        now = time.monotonic()
        for method, _ in found:
            self.seen.setdefault(method, now)
        return [f"{m} {u}" for m, u in found]

    def got(self, method: str) -> str:
        return next((r for r in self.requests() if r.startswith(method + " ")), "")


# What the service user gets: its own uid/gid and groups (usbphone, audio), no capabilities, no new privileges
AS_SERVICE_USER = ["setpriv", "--reuid=usbphone", "--regid=usbphone", "--init-groups", "--no-new-privs",
                   "--inh-caps=-all", "--bounding-set=-all"]


def service_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": "/var/lib/usbphone", "PYTHONPATH": os.environ["PYTHONPATH"],
            "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}


class App:
    """`usbphone run` as the service user, with its JSON event log and its stdout."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.log = workdir / "events.jsonl"
        self.out = workdir / "stdout.txt"
        argv = [*AS_SERVICE_USER, sys.executable, "-m", "usbphone.cli", "run", "--config", str(config),
                "--log-json", str(self.log), "-v"]
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=service_env(), cwd=workdir)
        STARTED.append(self.proc)

    def records(self) -> list[dict[str, Any]]:
        out = []
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def status(self, what: str) -> dict[str, Any] | None:
        return next((r for r in self.records() if r.get("kind") == "status" and r.get("status") == what), None)

    def output(self) -> str:
        try:
            return self.out.read_text(errors="replace")
        except OSError:
            return ""

    def holds(self, node: str) -> bool:
        try:
            fds = list(Path(f"/proc/{self.proc.pid}/fd").iterdir())
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(fd) == node:
                    return True
            except OSError:
                continue
        return False

    def tail(self, n: int = 25) -> None:
        for line in self.output().splitlines()[-n:]:
            note(f"app| {line}")


def hidraw_of(vid: int, pid: int) -> str:
    want = f":{vid:04X}:{pid:04X}."
    for dev in sorted(Path("/sys/class/hidraw").glob("hidraw*")):
        if want in os.path.realpath(dev):
            return f"/dev/{dev.name}"
    return ""


def udev_props(node: str) -> dict[str, str]:
    out = {}
    for line in run("udevadm", "info", "--query=property", f"--name={node}").splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def find_sound_card() -> tuple[bool, str, str]:
    """(found, detail, ALSA card id) for QEMU's usb-audio device, through usbphone's own card matching."""
    from usbphone.audio import devices as dv

    usb = None
    for dev in Path("/sys/bus/usb/devices").iterdir():
        try:
            ids = ((dev / "idVendor").read_text().strip(), (dev / "idProduct").read_text().strip())
        except OSError:
            continue
        if ids == QEMU_AUDIO_VID_PID:
            usb = dev
    if usb is None:
        return False, "no USB device 46f4:0002 (usb-audio) enumerated", ""
    cards = dv.cards_of_usb_device(usb)
    if not cards:
        return False, f"{usb.name}: no ALSA card bound (snd-usb-audio)", ""
    card = cards[0]
    import sounddevice as sd

    listing = [dict(d) for d in sd.query_devices()]
    idx = dv.portaudio_index(card, listing)
    if idx is None:
        return False, f"card {card.index} ({card.id}) not in PortAudio's list", card.id
    name = listing[idx]["name"]
    outs = listing[idx]["max_output_channels"]
    rates = dv.card_rates(card)
    return True, f"card {card.index} id={card.id} PortAudio #{idx} {name!r} out={outs} rates={rates}", card.id


def play_reference_tone(card_id: str) -> None:
    """1 s of 1 kHz at -12 dBFS straight to the card with aplay (no usbphone involved)."""
    rate = 48000
    frames = array.array("h", (int(8000 * math.sin(2 * math.pi * 1000 * i / rate)) for i in range(rate)))
    stereo = array.array("h", (v for v in frames for _ in range(2)))
    path = Path("/tmp/reference-1khz.wav")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())
    t0 = time.monotonic()
    out = run("aplay", "-q", "-D", f"plughw:CARD={card_id}", str(path))
    note(f"reference tone: aplay 1 s of 1 kHz took {time.monotonic() - t0:.2f} s {out}".rstrip())


def write_config(params: dict[str, Any], card_id: str) -> Path:
    """The appliance's config: direct SIP (no registrar), numbers dialled at SIPp, audio to the USB card."""
    etc = Path("/etc/usbphone")
    etc.mkdir(exist_ok=True)
    if card_id:  # the USB card plays, snd-aloop stands in for a microphone (usb-audio is playback only)
        Path("/etc/asound.conf").write_text(
            "# written by tools/vm/guest_test.py: earpiece = QEMU usb-audio, microphone = snd-aloop\n"
            f'pcm.vmphone {{ type asym playback.pcm "plughw:CARD={card_id}" '
            'capture.pcm "plughw:CARD=Loopback,DEV=1" hint.description "usbphone VM handset audio" }\n')
    config = etc / "config.toml"
    config.write_text(
        "# written by tools/vm/guest_test.py\n"
        f'[sip]\nbind = "127.0.0.1:{params["app_sip_port"]}"\n\n'
        f'[dialplan]\ndomain = "127.0.0.1:{params["sipp_port"]}"\nsend_key = "#"\ninterdigit_timeout = 4.0\n\n'
        f'[audio]\ndevice = "{"vmphone" if card_id else ""}"\n'
        # TCG runs the guest ~10x slower than hardware and the host is shared: "low" PortAudio latency
        # underruns all the time there (measured: 378 xruns, 1 % of the dial tone reached the WAV), "high"
        # (~46 ms) still did 62 xruns on a busy host; 0.2 s rides that out (0-2 xruns). Longer buffers make
        # callbacks rarer than the audio engine's fixed 0.4 s stall limit (it then reports device_lost and
        # reopens). The card's native 48 kHz spares alsa-lib's plug resampler (the asym PCM says 44.1 kHz).
        'latency = 0.2\nsamplerate = 48000\n\n'
        '[phone]\necho_number = ""\n')
    config.chmod(0o644)
    return config


def replay(uhid: Uhid, reports: list[Any], until: float, listen_after: float, listen_s: float) -> int:
    """Send the trace's input reports with their timing; after ``listen_after`` s (the lift) hold for
    ``listen_s`` s, as a user listening to the dial tone would. Stops before ``until``. Returns the count."""
    start = time.monotonic()
    shift = 0.0
    sent = 0
    for rep in reports:
        if rep.t >= until:
            break
        if shift == 0.0 and rep.t > listen_after:
            shift = listen_s
        delay = start + rep.t + shift - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        uhid.input(rep.data)
        sent += 1
    return sent


def doctor(config: Path, node: str) -> None:
    """`usbphone doctor` as the service user, with the handset plugged in: rules current, node openable."""
    proc = subprocess.run([*AS_SERVICE_USER, sys.executable, "-m", "usbphone.cli", "doctor", "--config",
                           str(config), "--json"], capture_output=True, text=True, env=service_env(), timeout=120)
    checks = []
    for line in proc.stdout.splitlines():
        try:
            checks.append(json.loads(line))
        except ValueError:
            continue
    rules = any(c["level"] == "ok" and c["what"] == "udev rules" for c in checks)
    opens = any(c["level"] == "ok" and f"can open {node}" in c["detail"] for c in checks)
    problems = [f"{c['what']}: {c['detail']}" for c in checks if c["level"] == "problem"]
    result("doctor", proc.returncode == 0 and rules and opens and not problems,
           f"exit {proc.returncode}; rules current: {rules}; {node} openable as usbphone: {opens}; "
           f"problems: {problems or 'none'}" + ("" if checks else f"; output {proc.stdout[-300:]}{proc.stderr[-300:]}"))


def replug(app: App, trace: Any, state: dict[int, bytes]) -> None:
    """The same handset plugged in again, still lifted: re-attached, and its hook state taken from the device
    (the reports it sends on attach: the state it was in when it was pulled), not assumed on-hook."""
    hooks = lambda: sum(1 for r in app.records() if r.get("kind") == "handset_event"  # noqa: E731
                        and r.get("event") == "hook" and r.get("value") == "off")
    before = hooks()
    uhid = Uhid()
    t_plug = time.monotonic()
    uhid.create(trace.name or "usbphone VM handset", trace.phys or "usbphone-vm/uhid", trace.bus or BUS_USB, trace.vid,
                trace.pid, trace.descriptor)
    node = wait_for(lambda: hidraw_of(trace.vid, trace.pid), 20)
    opened = bool(node) and wait_for(lambda: uhid.opened.is_set() and app.holds(node), 30)
    took = time.monotonic() - t_plug
    result("replug-reattached", bool(opened), f"{node} reopened by the app {took:.2f} s after the replug (the "
           "product promises 2 s on hardware; TCG is ~10x slower)" if opened else f"node {node!r}, not reopened")
    if opened:
        for data in state.values():
            uhid.input(data)
        lifted = wait_for(lambda: hooks() > before, 10)
        result("replug-hook-state", bool(lifted), "hook off re-read from the replugged handset's first report"
               if lifted else f"no hook off after replug; state sent {[d.hex(' ') for d in state.values()]}")
    uhid.destroy()
    wait_for(lambda: not os.path.exists(node or "/nonexistent"), 10)
    uhid.close()


def main() -> None:
    params = json.loads((HERE / "params.json").read_text())
    import pjsua2  # noqa: F401 - the pinned wheel loads in the guest's python3.11

    from usbphone.hid.open import device_info_from_trace, select_driver
    from usbphone.hid.trace import load_trace

    trace = load_trace(HERE / params["trace"])
    profile, _driver = select_driver(device_info_from_trace(trace))
    expect_profile = profile.id if profile else ""
    result("boot", True, f"kernel {os.uname().release}, python {sys.version.split()[0]}, "
           f"trace {params['trace_name']} ({trace.vid:04x}:{trace.pid:04x}, profile {expect_profile or 'none'})")

    # 2. the USB sound card (enumeration continues after udev settle: wait for it)
    run("modprobe", "snd-aloop")
    found = wait_for(lambda: (r if (r := find_sound_card())[0] else None), 30) or find_sound_card()
    ok, detail, card_id = found
    result("sound-card", ok, detail)
    if card_id:  # a baseline for the host's WAV check: the emulated card carries a plain 1 kHz tone
        play_reference_tone(card_id)

    # 3. the SIPp peer and the appliance
    work = Path("/tmp/vmtest")
    work.mkdir(mode=0o777, exist_ok=True)
    work.chmod(0o777)
    sipp_log = SippLog(work / "sipp-messages.log")
    sipp = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(params["sipp_port"]), "-m", "1",
                             "-nostdin", "-trace_msg", "-message_file", str(sipp_log.path), "-timeout", "300s"],
                            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    STARTED.append(sipp)
    config = write_config(params, card_id)
    app = App(config, work)
    t_start = time.monotonic()
    ready = wait_for(lambda: app.status("ready") or app.proc.poll() is not None, 180, 0.2)
    ok = isinstance(ready, dict) and app.proc.poll() is None
    result("app-ready", ok, f"`usbphone run` as user usbphone ready in {time.monotonic() - t_start:.1f} s, SIP "
           f"{ready.get('sip') if isinstance(ready, dict) else '-'}" if ok else f"exit {app.proc.poll()}")
    if not ok:
        app.tail()
        return

    # 4. the handset, from the trace, through /dev/uhid
    run("modprobe", "uhid")
    uhid = Uhid()
    t_plug = time.monotonic()
    uhid.create(trace.name or "usbphone VM handset", trace.phys or "usbphone-vm/uhid", trace.bus or BUS_USB, trace.vid,
                trace.pid, trace.descriptor)
    node = wait_for(lambda: hidraw_of(trace.vid, trace.pid), 20)
    if not result("hidraw-node", bool(node), f"{node} from UHID_CREATE2 ({len(trace.descriptor)}-byte descriptor)"
                  if node else "no hidraw node appeared"):
        return
    run("udevadm", "settle", "--timeout=20")
    props = udev_props(node)
    st = os.stat(node)
    group = grp.getgrgid(st.st_gid).gr_name
    tags = props.get("CURRENT_TAGS", props.get("TAGS", ""))
    checks = {
        "profile": props.get("USBPHONE_PROFILE") == expect_profile,
        "group": group == "usbphone",
        "mode": st.st_mode & 0o777 == 0o660,
        "uaccess": ":uaccess:" in tags,
        "systemd": ":systemd:" in tags and "usbphone.service" in props.get("SYSTEMD_WANTS", ""),
    }
    result("udev-rule", all(checks.values()),
           f"USBPHONE_PROFILE={props.get('USBPHONE_PROFILE', '')} {group} {st.st_mode & 0o777:04o} TAGS={tags} "
           f"SYSTEMD_WANTS={props.get('SYSTEMD_WANTS', '')}"
           + ("" if all(checks.values()) else f" (wrong: {[k for k, v in checks.items() if not v]})"))

    # 5. the appliance attaches and opens the node
    attached = wait_for(lambda: uhid.opened.is_set() and app.holds(node), 30)
    announced = wait_for(lambda: re.search(r"^handset: .*", app.output(), re.M), 10)
    result("app-attached", bool(attached and announced),
           f"{node} opened by pid {app.proc.pid} (UHID_OPEN, fd held) {time.monotonic() - t_plug:.2f} s after "
           f"the plug; app said {announced.group(0)!r}" if attached and announced else
           f"UHID_OPEN={uhid.opened.is_set()} holds={app.holds(node)} announced={bool(announced)}")
    if not attached:
        app.tail()
        return
    doctor(config, node)

    # 6. the call: replay the trace's lift + dial + send
    sent = replay(uhid, trace.inputs, params["replay_until"], params["listen_after"], params["listen_s"])
    note(f"replayed {sent} input report(s) from {params['trace_name']}")
    invite = wait_for(lambda: sipp_log.got("INVITE"), 60, 0.1)
    acked = wait_for(lambda: sipp_log.got("ACK"), 30, 0.1) if invite else ""
    dialled = re.sub(r"^INVITE sips?:([^@;]*)@.*", r"\1", invite).replace("%23", "#")
    result("call-reaches-sipp", bool(invite and acked) and dialled == params["number"],
           f"SIPp received {invite!r} (the trace dials {params['number']!r}), answered, ACK received"
           if invite and acked else f"SIPp saw {sipp_log.requests() or 'nothing'}")
    leds = [o.hex(" ") for o in uhid.outputs]
    result("handset-outputs", bool(leds), f"{len(leds)} output report(s) via hidraw -> UHID_OUTPUT: {leds[:4]}")
    if not invite:
        app.tail()
        return

    # 7. unplug mid-call
    time.sleep(params["talk_s"])
    pid = app.proc.pid
    t_destroy = time.monotonic()
    uhid.destroy()
    bye = wait_for(lambda: sipp_log.got("BYE"), 15, 0.02)
    delay = sipp_log.seen.get("BYE", 0.0) - t_destroy
    result("bye-on-unplug", bool(bye) and delay < params["bye_within_s"],
           f"BYE at SIPp {delay:.2f} s after UHID_DESTROY (want < {params['bye_within_s']} s)" if bye else
           f"no BYE; SIPp saw {sipp_log.requests()}")
    gone = wait_for(lambda: not os.path.exists(node), 10)
    detached = wait_for(lambda: [r for r in app.records() if r.get("kind") == "handset_event"
                                 and r.get("value") == "detached"], 10)
    time.sleep(1.0)  # the app is still there after handling the unplug (checked again after the replug)
    alive = app.proc.poll() is None
    try:
        sipp_rc = sipp.wait(20)
    except subprocess.TimeoutExpired:
        sipp.kill()
        sipp_rc = None
    note(f"SIPp exit {sipp_rc}; node removed: {bool(gone)}; detached records: {len(detached or [])}")
    uhid.close()
    if alive:
        replug(app, trace, uhid.state)
        alive = app.proc.poll() is None
    if alive:
        app.proc.send_signal(signal.SIGTERM)
        try:
            rc = app.proc.wait(60)
        except subprocess.TimeoutExpired:
            app.proc.kill()
            rc = None
    else:
        rc = app.proc.returncode
    result("daemon-survives", alive and rc == 0,
           f"pid {pid} still running after the unplug and the replug; SIGTERM -> exit {rc}" if alive else
           f"the app exited ({rc}) after the unplug")

    # 8. the dial tone: did the app open the sound device? (the samples are checked on the host)
    records = app.records()
    opened = [r for r in records if r.get("kind") == "status" and r.get("status") == "audio_open"]
    faults = [r for r in records if r.get("kind") == "status" and "audio" in str(r.get("status", ""))]
    if opened:
        result("dial-tone-device", True, f"audio opened: {opened[0]}")
    else:
        result("dial-tone-device", "SKIP", "the appliance never opened a sound device (no audio bridge wired "
               f"into `usbphone run`; audio status records: {faults[:3] or 'none'})")
    t_first = records[0]["t"] if records else 0.0
    for r in records:  # the appliance's own account of the run (audio faults show up here)
        if r.get("kind") in ("status", "call_event") or (r.get("kind") == "handset_event" and r.get("event") == "hook"):
            rest = {k: v for k, v in r.items() if k not in ("t", "kind")}
            note(f"app-log +{r['t'] - t_first:6.2f} {r['kind']} {json.dumps(rest)[:160]}")
    alsa = [ln for ln in app.output().splitlines() if re.search(r"ALSA|PortAudio|pa_linux|Expression", ln)]
    for line in alsa[:10]:  # what the sound stack said (a "lost" stream above usually has its reason here)
        note(f"app-alsa| {line}")
    app.tail(12)


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - report it, then the VM powers off either way
        import traceback

        traceback.print_exc()
        result("guest-test", False, f"{type(exc).__name__}: {exc}")
    finally:
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    passed = sum(v == "PASS" for v in RESULTS.values())
    print(f"DONE {passed}/{len(RESULTS)} passed", flush=True)

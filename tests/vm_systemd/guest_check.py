"""Runs inside the QEMU guest (systemd PID 1, real kernel, real udev): the appliance from plug to unplug.

1. SIPp answers calls on the guest's loopback (127.0.0.1:5070).
2. A GN-style headset is created with uhid (real hidraw node, no USB parent).
3. The generated udev rule fires: USBPHONE_PROFILE, group usbphone, mode 0660, and SYSTEMD_WANTS starts
   usbphone.service (hardened unit, User=usbphone), which opens the node through its hidraw transport.
4. Hook off, dial 100# through uhid input reports: the call reaches SIPp.
5. The uhid device is destroyed mid-call: the call ends with a BYE (measured ~0.1-0.2 s; bound 3 s under
   TCG, the 1 s promise is checked on the host); the service keeps running.
6. QEMU's usb-audio device is the earpiece ([audio] device = "vmphone": usb-audio + snd-aloop): lifting
   the handset plays the dial tone through it, from inside the hardened unit (DeviceAllow=char-alsa);
   the host test finds the tone in QEMU's WAV file.
Prints ``RESULT <name> PASS|FAIL <detail>`` lines and powers the VM off. Edit with tests/test_vm_systemd.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_headset_traces", ROOT / "tools" / "gen_headset_traces.py")
gen = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(gen)  # type: ignore[union-attr]
KEYPAD = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}

# source: linux include/uapi/linux/uhid.h (event numbers and packed struct layouts)
UHID_DESTROY, UHID_START, UHID_STOP, UHID_OPEN, UHID_CLOSE, UHID_OUTPUT = 1, 2, 3, 4, 5, 6
UHID_GET_REPORT, UHID_GET_REPORT_REPLY, UHID_CREATE2, UHID_INPUT2 = 9, 10, 11, 12
UHID_SET_REPORT, UHID_SET_REPORT_REPLY = 13, 14
UHID_DATA_MAX = 4096
EVENT_SIZE = 4 + 128 + 64 + 64 + 2 + 2 + 4 * 4 + 4096  # struct uhid_event: the create2 member is the largest
BUS_USB = 3
SIPP_PORT = 5070
TCG_BYE_BOUND_S = 3.0  # measured here: 0.085-0.201 s
START = time.monotonic()
results: list[tuple[str, bool]] = []


def result(name: str, ok: bool, detail: str = "") -> bool:
    results.append((name, ok))
    print(f"RESULT {name} {'PASS' if ok else 'FAIL'} {detail}".rstrip(), flush=True)
    return ok


def note(text: str) -> None:
    print(f"NOTE {time.monotonic() - START:7.2f} {text}", flush=True)


def sh(*argv: str, timeout: float = 30) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return (proc.stdout + proc.stderr).strip()


def wait_for(pred, timeout: float, step: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return None


class Uhid:
    """One uhid device; a thread answers the kernel (GET/SET_REPORT) and records opens and output reports."""

    def __init__(self) -> None:
        subprocess.run(["modprobe", "uhid"], check=False)
        self.fd = os.open("/dev/uhid", os.O_RDWR)
        self.opened = threading.Event()
        self.outputs: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()

    def create(self, name: str, vid: int, pid: int, descriptor: bytes, uniq: str) -> None:
        req = struct.pack("<128s64s64sHHIIII4096s", name.encode(), b"uhid-vm-test", uniq.encode(), len(descriptor),
                          BUS_USB, vid, pid, 0, 0, descriptor)
        os.write(self.fd, struct.pack("<I", UHID_CREATE2) + req)

    def input(self, report: bytes) -> None:
        os.write(self.fd, struct.pack("<IH", UHID_INPUT2, len(report)) + report.ljust(UHID_DATA_MAX, b"\0"))

    def destroy(self) -> None:
        os.write(self.fd, struct.pack("<I", UHID_DESTROY).ljust(EVENT_SIZE, b"\0"))

    def _read(self) -> None:
        while True:
            try:
                ev = os.read(self.fd, EVENT_SIZE)
            except OSError:
                return
            kind = struct.unpack_from("<I", ev)[0]
            if kind == UHID_OPEN:
                self.opened.set()
            elif kind == UHID_OUTPUT:
                size = struct.unpack_from("<H", ev, 4 + UHID_DATA_MAX)[0]
                self.outputs.append(ev[4:4 + size])
            elif kind == UHID_GET_REPORT:  # no feature reports on this headset: answer with EIO
                rid = struct.unpack_from("<I", ev, 4)[0]
                os.write(self.fd, struct.pack("<IIHH", UHID_GET_REPORT_REPLY, rid, 5, 0).ljust(EVENT_SIZE, b"\0"))
            elif kind == UHID_SET_REPORT:
                rid = struct.unpack_from("<I", ev, 4)[0]
                os.write(self.fd, struct.pack("<IIH", UHID_SET_REPORT_REPLY, rid, 0).ljust(EVENT_SIZE, b"\0"))


def hidraw_node() -> str | None:
    for dev in sorted(Path("/sys/class/hidraw").glob("hidraw*")):
        if "0003:0B0E:0307" in os.path.realpath(dev):
            return f"/dev/{dev.name}"
    return None


def sipp_times(messages: Path, method: str) -> list[float]:
    """Wall times at which SIPp logged receiving ``method`` (its -trace_msg file)."""
    if not messages.exists():
        return []
    text = messages.read_text(errors="replace")
    out = []
    pattern = r"-+ (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)\n[^\n]*received[^\n]*\n\n" + method + " sip:"
    for m in re.finditer(pattern, text):
        out.append(datetime.strptime(m.group(1).replace("  ", " "), "%Y-%m-%d %H:%M:%S.%f").timestamp())
    return out


def setup_audio() -> str:
    """The earpiece: QEMU's usb-audio card (playback only); the microphone: snd-aloop. Returns the card id."""
    subprocess.run(["modprobe", "snd-aloop"], check=False)

    def card_id() -> str:
        cards = Path("/proc/asound/cards").read_text() if Path("/proc/asound/cards").exists() else ""
        m = re.search(r"\[(\S+)\s*\]: USB-Audio - QEMU USB Audio", cards)
        return m.group(1) if m and "Loopback" in cards else ""

    card = wait_for(card_id, 30) or ""
    if card:
        Path("/etc/asound.conf").write_text(
            f'pcm.vmphone {{ type asym playback.pcm "plughw:CARD={card}" '
            'capture.pcm "plughw:CARD=Loopback,DEV=1" hint.description "usbphone VM handset audio" }\n')
    return card


def main() -> None:
    note(f"kernel {os.uname().release}, python {sys.version.split()[0]}")
    sipp_dir = Path("/tmp/sipp")
    sipp_dir.mkdir(exist_ok=True)
    messages = sipp_dir / "messages.log"
    sipp = subprocess.Popen(["sipp", "-sf", str(ROOT / "tests/sip/scenarios/uas_answer.xml"), "-i", "127.0.0.1",
                             "-p", str(SIPP_PORT), "-m", "1", "-nostdin", "-trace_msg", "-message_file",
                             str(messages), "-timeout", "900s", "-nd"], cwd=sipp_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    card = setup_audio()
    result("usb-sound-card", bool(card), f"ALSA card {card!r} (QEMU usb-audio)")
    uhid = Uhid()
    uhid.create("GN VM headset", 0x0B0E, 0x0307, gen.gn_descriptor(), "VM-1")
    node = wait_for(hidraw_node, 20)
    if not result("hidraw-node", node is not None, str(node)):
        return
    info = wait_for(lambda: (out := sh("udevadm", "info", "--query=property", node)) and "USBPHONE_PROFILE" in out
                    and out, 20) or sh("udevadm", "info", "--query=property", node)
    result("udev-rule-fired", "USBPHONE_PROFILE=jabra-gn" in info and "SYSTEMD_WANTS=usbphone.service" in info,
           " ".join(line for line in info.splitlines() if line.startswith(("USBPHONE", "SYSTEMD", "TAGS"))))
    st = os.stat(node)
    import grp

    group = grp.getgrgid(st.st_gid).gr_name
    result("node-permissions", group == "usbphone" and st.st_mode & 0o777 == 0o660,
           f"{group} {st.st_mode & 0o777:04o}")
    active = wait_for(lambda: sh("systemctl", "is-active", "usbphone.service") == "active", 60)
    if not result("service-started-by-udev", bool(active), sh("systemctl", "show", "-p",
                                                              "ActiveState,SubState,Result",
                                                              "usbphone.service").replace("\n", " ")):
        note(sh("systemctl", "--no-pager", "status", "usbphone.service"))
        note(sh("journalctl", "--no-pager", "-n", "40"))
        return
    pid = sh("systemctl", "show", "-p", "MainPID", "--value", "usbphone.service")

    def service_user() -> str:  # right after the fork systemd's child is still root, until it execs
        return sh("ps", "-o", "user=", "-p", pid) if pid not in ("", "0") else ""

    user = wait_for(lambda: service_user() == "usbphone" and "usbphone", 30) or service_user()
    result("service-user", user == "usbphone", f"pid {pid} user {user}")
    # the service announces the handset once its hidraw transport has the node open (slow under TCG)
    opened = wait_for(lambda: "handset: GN VM headset" in sh("journalctl", "-u", "usbphone.service", "--no-pager",
                                                             "-o", "cat"), 180, step=1.0)
    result("device-opened", bool(opened) and uhid.opened.is_set(),
           f"{node} opened by the service" if opened else "the service never announced the handset")
    if not opened:
        note(sh("journalctl", "-u", "usbphone.service", "--no-pager", "-n", "40"))
        return
    time.sleep(1.0)
    uhid.input(gen.gn_in(hook=0))
    time.sleep(0.3)
    uhid.input(gen.gn_in(hook=1))
    print(f"TONE-START {time.time():.3f}", flush=True)
    time.sleep(3.0)  # dial tone in the earpiece (QEMU's usb-audio → the host's WAV file)
    print(f"TONE-END {time.time():.3f}", flush=True)
    for digit in "100#":
        uhid.input(gen.gn_in(hook=1, key=KEYPAD[digit]))
        time.sleep(0.2)
        uhid.input(gen.gn_in(hook=1))
        time.sleep(0.4)
    acked = wait_for(lambda: sipp_times(messages, "ACK"), 30)
    result("call-reaches-sipp", bool(acked), "INVITE answered and ACKed" if acked else "no ACK at SIPp")
    result("output-reports", len(uhid.outputs) > 0, f"{len(uhid.outputs)} output report(s) reached the headset")
    time.sleep(1.5)
    destroyed_at = time.time()
    uhid.destroy()
    byes = wait_for(lambda: sipp_times(messages, "BYE"), 10)
    delay = (byes[0] - destroyed_at) if byes else None
    # 1 s is the promise (checked on the host: tests/test_hotplug_call_umockdev.py); TCG runs ~10x slower
    result("bye-after-unplug", delay is not None and delay < TCG_BYE_BOUND_S,
           f"BYE {delay:.3f} s after destroy" if delay is not None else "no BYE")
    try:
        sipp_rc = sipp.wait(15)
    except subprocess.TimeoutExpired:
        sipp.kill()
        sipp_rc = -1
    result("sipp-scenario", sipp_rc == 0, f"exit {sipp_rc}")
    time.sleep(2.0)
    state = sh("systemctl", "show", "-p", "ActiveState,NRestarts,MainPID", "usbphone.service").replace("\n", " ")
    same = "ActiveState=active" in state and "NRestarts=0" in state and f"MainPID={pid}" in state
    result("daemon-keeps-running", same, state)
    journal = sh("journalctl", "--no-pager", "-o", "cat")
    result("secret-not-logged", "vm-secret-password" not in journal)
    note(sh("journalctl", "-u", "usbphone.service", "--no-pager", "-o", "cat", "-n", "30"))


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - report, then power off either way
        result("guest-check", False, f"{type(exc).__name__}: {exc}")
    finally:
        print(f"DONE {sum(ok for _, ok in results)}/{len(results)}", flush=True)
        time.sleep(0.5)
        with open("/proc/sysrq-trigger", "w") as f:
            f.write("o")

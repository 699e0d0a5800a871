"""udev rules: generated from the profiles, current in udev/, lint-clean, and applied by the real udev rule engine.

The last tests run `udevadm test` (real udev rule processing) against umockdev-emulated devices, with the
generated rules bind-mounted as the only rules file in a private mount namespace (needs root for `unshare -m`;
skipped otherwise).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usbphone.profiles import load_profiles
from usbphone.profiles.schema import MatchRule, Profile
from usbphone.udev import generate_rules

ROOT = Path(__file__).resolve().parents[1]
RULES_FILE = ROOT / "udev" / "70-usbphone.rules"
sys.path.insert(0, str(Path(__file__).parent))
from umockdev_devices import FakeUsbDevice, uhid_description, umockdev_available  # noqa: E402


def _profile(pid: str, transport: str, *rules: MatchRule, driver: str = "hid_telephony") -> Profile:
    return Profile(id=pid, name=pid.title(), driver=driver, transport=transport, matches=rules)


SAMPLE = [
    _profile("jabra-any", "hidraw", MatchRule(vid=0x0B0E, source="usb.ids vendor Jabra")),
    _profile("jabra-link", "hidraw", MatchRule(vid=0x0B0E, pid=0x0307, source="test")),
    _profile("bt-headset", "hidraw", MatchRule(vid=0x047F, pid=0xC056, bus="bluetooth")),
    _profile("yealink-p1k", "pyusb", MatchRule(vid=0x6993, pid=0xB001), driver="yealink"),
    _profile("serial-adapter", "serial", MatchRule(vid=0x067B, pid=0x2303), driver="serial_lines"),
    _profile("com-port", "serial", MatchRule(vid=0, bus="serial"), driver="serial_lines"),
    _profile("ftdi-hook", "serial", MatchRule(vid=0x0403, pid=0x6001, name="*usbphone*"), driver="serial_lines"),
]


def _code(rules: str) -> list[str]:
    return [ln for ln in rules.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_hidraw_profiles_match_by_hid_id_not_usb_attrs() -> None:
    code = _code(generate_rules(SAMPLE))
    assert 'KERNELS=="0003:0B0E:0307.*", ENV{USBPHONE_PROFILE}="jabra-link"' in code
    assert 'KERNELS=="0003:0B0E:*", ENV{USBPHONE_PROFILE}="jabra-any"' in code  # vendor-wide
    assert 'KERNELS=="0005:047F:C056.*", ENV{USBPHONE_PROFILE}="bt-headset"' in code  # Bluetooth: bus 0005
    # the vendor-wide rule comes first so the specific profile id wins
    assert code.index('KERNELS=="0003:0B0E:*", ENV{USBPHONE_PROFILE}="jabra-any"') < code.index(
        'KERNELS=="0003:0B0E:0307.*", ENV{USBPHONE_PROFILE}="jabra-link"')
    # autosuspend off on the USB parent of a USB hidraw headset, but no grant there
    assert 'ATTR{idVendor}=="0b0e", ATTR{idProduct}=="0307", ATTR{power/control}="on"' in code


def test_pyusb_and_serial_profiles() -> None:
    rules = generate_rules(SAMPLE)
    code = _code(rules)
    assert ('ATTR{idVendor}=="6993", ATTR{idProduct}=="b001", ATTR{power/control}="on", '
            'ENV{USBPHONE_PROFILE}="yealink-p1k"') in code
    assert 'ATTRS{idVendor}=="067b", ATTRS{idProduct}=="2303", ENV{USBPHONE_PROFILE}="serial-adapter"' in code
    assert any(ln.startswith("# Skipped: # com-port") for ln in rules.splitlines())  # a plain COM port: no match


def test_name_glob_narrows_usb_rules_to_the_named_device() -> None:
    code = _code(generate_rules(SAMPLE))
    ftdi = [ln for ln in code if '"0403"' in ln]
    assert ftdi == [  # never every FT232 adapter: only one whose manufacturer or product string matches
        'ATTR{idVendor}=="0403", ATTR{idProduct}=="6001", ATTR{manufacturer}=="*usbphone*", ATTR{power/control}="on"',
        'ATTR{idVendor}=="0403", ATTR{idProduct}=="6001", ATTR{product}=="*usbphone*", ATTR{power/control}="on"',
        'ATTRS{idVendor}=="0403", ATTRS{idProduct}=="6001", ATTRS{manufacturer}=="*usbphone*", '
        'ENV{USBPHONE_PROFILE}="ftdi-hook"',
        'ATTRS{idVendor}=="0403", ATTRS{idProduct}=="6001", ATTRS{product}=="*usbphone*", '
        'ENV{USBPHONE_PROFILE}="ftdi-hook"',
    ]


def test_rules_are_deterministic_and_deduplicated() -> None:
    twice = SAMPLE + [_profile("jabra-link", "hidraw", MatchRule(vid=0x0B0E, pid=0x0307))]
    assert generate_rules(SAMPLE) == generate_rules(list(reversed(SAMPLE)))
    assert generate_rules(twice).count('KERNELS=="0003:0B0E:0307.*"') == 1


def _lint(rules: str, profiles: list[Profile]) -> list[str]:
    """Problems in a rules text: what a reviewer would reject."""
    code = _code(rules)
    text = "\n".join(code)
    problems = []
    if re.search(r'MODE="0?666"', text):
        problems.append("MODE 0666")
    if "RUN+=" in text or "RUN=" in text:
        problems.append("RUN key")
    if code[0] != 'ACTION=="remove", GOTO="usbphone_end"':
        problems.append("no ACTION guard first")
    for need in ('TAG+="uaccess", GROUP="usbphone", MODE="0660"', 'ENV{SYSTEMD_WANTS}+="usbphone.service"',
                 'ENV{SYSTEMD_USER_WANTS}+="usbphone-user.service"', 'LABEL="usbphone_end"'):
        if need not in text:
            problems.append(f"missing {need}")
    for label in re.findall(r'GOTO="([^"]+)"', text):
        if f'LABEL="{label}"' not in text:
            problems.append(f"GOTO {label} without LABEL")
    for prof in profiles:
        for rule in prof.matches:
            if rule.bus == "serial":
                continue
            vid, pid = f"{rule.vid:04x}", "" if rule.pid is None else f"{rule.pid:04x}"
            if not any(vid in ln.lower() and pid in ln.lower() and f'"{prof.id}"' in ln for ln in code):
                problems.append(f"{prof.id} {vid}:{pid} not covered")
    return problems


def test_lint_sample_rules() -> None:
    assert _lint(generate_rules(SAMPLE), SAMPLE) == []
    bad = generate_rules(SAMPLE).replace('MODE="0660"', 'MODE="0666"')
    assert "MODE 0666" in _lint(bad, SAMPLE)


def test_committed_rules_are_current_and_lint_clean() -> None:
    profiles = load_profiles(include_local=False)
    expected = generate_rules(profiles)
    assert RULES_FILE.read_text() == expected, "udev/70-usbphone.rules is stale: run `usbphone udev-rules > " \
        "udev/70-usbphone.rules`"
    assert _lint(expected, profiles) == []


def test_cli_prints_builtin_rules_and_include_local_adds_local_profiles(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "usbphone.cli", "udev-rules"]
    local = tmp_path / "devices" / "my-headset"
    local.mkdir(parents=True)
    (local / "profile.toml").write_text(
        '[device]\nname = "My headset"\ndriver = "hid_telephony"\ntransport = "hidraw"\n\n'
        '[[match]]\nvid = 0x1234\npid = 0xabcd\nsource = "test"\n')
    env = {**os.environ, "USBPHONE_DEVICES": str(tmp_path / "devices"), "XDG_CONFIG_HOME": str(tmp_path)}
    plain = subprocess.run(exe, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert plain.stdout == RULES_FILE.read_text()
    assert "my-headset" not in plain.stdout
    local_run = subprocess.run(exe + ["--include-local"], capture_output=True, text=True, env=env, timeout=60)
    assert local_run.returncode == 0, local_run.stderr
    assert 'KERNELS=="0003:1234:ABCD.*", ENV{USBPHONE_PROFILE}="my-headset"' in local_run.stdout


# --- the real udev rule engine -------------------------------------------------------------------------------

def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode == 0


needs_udevadm = pytest.mark.skipif(
    not (umockdev_available() and shutil.which("udevadm") and _can_unshare()),
    reason="needs umockdev-run, udevadm (Debian udev) and root for a private mount namespace",
)


def _udevadm_test(tmp_path: Path, rules: str, description: str, syspath: str) -> tuple[dict[str, str], str]:
    """Run the real udev rule engine on one emulated device with only our rules; return (properties, log)."""
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "70-usbphone.rules").write_text(rules)
    group = tmp_path / "group"
    group.write_text(Path("/etc/group").read_text() + "usbphone:x:4242:\n")
    desc = tmp_path / "dev.umockdev"
    desc.write_text(description)
    # private namespace: our rules are the only rules, a group file with "usbphone", and a scratch /run so
    # udevadm's database writes never touch the host's
    script = (f"mount -t tmpfs none /run && mount --bind {rules_dir} /usr/lib/udev/rules.d && "
              f"mount --bind {group} /etc/group && "
              f"exec umockdev-run -d {desc} -- udevadm test --action=add /sys{syspath}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    props = dict(ln.split("=", 1) for ln in proc.stdout.splitlines() if re.match(r"^[A-Z_]+=", ln))
    return props, log


@needs_udevadm
def test_udev_grants_usb_headset_hidraw_node(tmp_path: Path) -> None:
    dev = FakeUsbDevice(0x0B0E, 0x0307, serial="J1")
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), dev.description(), dev.hidraw_syspath)
    assert props["USBPHONE_PROFILE"] == "jabra-link"
    assert set(props["CURRENT_TAGS"].strip(":").split(":")) >= {"systemd", "uaccess"}
    assert props["SYSTEMD_WANTS"] == "usbphone.service"
    assert props["SYSTEMD_USER_WANTS"] == "usbphone-user.service"
    assert re.search(r"70-usbphone\.rules:\d+ GROUP 4242", log), log
    assert re.search(r"70-usbphone\.rules:\d+ MODE 0660", log), log
    # its USB parent: autosuspend off, but the raw USB node is not handed out
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), dev.description(), dev.usb_syspath)
    assert re.search(r"ATTR '/sys[^']*/1-2/power/control' writing 'on'", log), log
    assert "USBPHONE_PROFILE" not in props and "GROUP" not in log.split("Reading rules file")[-1]


@needs_udevadm
def test_udev_matches_uhid_node_without_usb_parent(tmp_path: Path) -> None:
    rules = generate_rules([_profile("uhid-phone", "hidraw", MatchRule(vid=0x0B0E, pid=0x0307, bus="virtual"))])
    desc = uhid_description(0x0B0E, 0x0307, bus=0x06, hidraw="hidraw1")
    syspath = "/devices/virtual/misc/uhid/0006:0B0E:0307.0002/hidraw/hidraw1"
    props, log = _udevadm_test(tmp_path, rules, desc, syspath)
    assert props["USBPHONE_PROFILE"] == "uhid-phone"
    assert re.search(r"GROUP 4242", log), log


@needs_udevadm
def test_udev_grants_pyusb_handset_and_usb_serial_tty(tmp_path: Path) -> None:
    yealink = FakeUsbDevice(0x6993, 0xB001, kind="usb", driver="yealink")
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), yealink.description(), yealink.usb_syspath)
    assert props["USBPHONE_PROFILE"] == "yealink-p1k" and props["SYSTEMD_WANTS"] == "usbphone.service"
    assert "writing 'on'" in log and "MODE 0660" in log
    serial = FakeUsbDevice(0x067B, 0x2303, kind="tty", port="1-4")
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), serial.description(), serial.tty_syspath)
    assert props["USBPHONE_PROFILE"] == "serial-adapter" and "GROUP 4242" in log


@needs_udevadm
def test_udev_name_glob_picks_the_named_ftdi_adapter_only(tmp_path: Path) -> None:
    named = FakeUsbDevice(0x0403, 0x6001, kind="tty", port="1-4", product="usbphone rotary hook")
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), named.description(), named.tty_syspath)
    assert props["USBPHONE_PROFILE"] == "ftdi-hook" and "GROUP 4242" in log
    plain = FakeUsbDevice(0x0403, 0x6001, kind="tty", port="1-4", product="FT232R USB UART")
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), plain.description(), plain.tty_syspath)
    assert "USBPHONE_PROFILE" not in props and "GROUP" not in log.split("Reading rules file")[-1]
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), plain.description(), plain.usb_syspath)
    assert "power/control" not in log  # an unrelated adapter keeps its power management


@needs_udevadm
def test_udev_leaves_unknown_devices_alone(tmp_path: Path) -> None:
    other = FakeUsbDevice(0x046D, 0xC52B, hidraw="hidraw2")  # a Logitech receiver: no profile
    props, log = _udevadm_test(tmp_path, generate_rules(SAMPLE), other.description(), other.hidraw_syspath)
    assert "USBPHONE_PROFILE" not in props and "SYSTEMD_WANTS" not in props
    assert "GROUP" not in log.split("Reading rules file")[-1]

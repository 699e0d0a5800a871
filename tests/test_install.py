"""`usbphone install` / `uninstall` into a temporary --destdir: files, locations, modes, idempotence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USBPHONE = str(Path(sys.executable).parent / "usbphone")


def usbphone(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "USBPHONE_DEVICES": "", "XDG_CONFIG_HOME": "/nonexistent"}
    return subprocess.run([USBPHONE, *args], capture_output=True, text=True, timeout=60, env=env)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


ETC_LAYOUT = {
    "etc/udev/rules.d/70-usbphone.rules",
    "etc/systemd/system/usbphone.service",
    "etc/systemd/user/usbphone-user.service",
    "etc/sysusers.d/usbphone.conf",
    "etc/usbphone/config.toml.example",
    "etc/usbphone/sip-password",
}


def test_install_default_prefix_uses_etc(tmp_path: Path) -> None:
    proc = usbphone("install", "--destdir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path) == ETC_LAYOUT
    rules = (tmp_path / "etc/udev/rules.d/70-usbphone.rules").read_text()
    assert rules == (ROOT / "udev/70-usbphone.rules").read_text()
    unit = (tmp_path / "etc/systemd/system/usbphone.service").read_text()
    assert f"ExecStart={USBPHONE} run --config /etc/usbphone/config.toml\n" in unit
    assert "/usr/bin/usbphone" not in unit
    user_unit = (tmp_path / "etc/systemd/user/usbphone-user.service").read_text()
    assert f"ExecStart={USBPHONE} run --config %E/usbphone/config.toml\n" in user_unit
    password = tmp_path / "etc/usbphone/sip-password"
    assert password.stat().st_mode & 0o777 == 0o600 and password.read_text() == ""
    assert (tmp_path / "etc/usbphone/config.toml.example").stat().st_mode & 0o777 == 0o644
    assert "not reloaded" in proc.stdout  # a staged install never touches the running system


def test_install_prefix_usr_uses_vendor_dirs(tmp_path: Path) -> None:
    proc = usbphone("install", "--prefix", "/usr", "--destdir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path) == {
        "usr/lib/udev/rules.d/70-usbphone.rules",
        "usr/lib/systemd/system/usbphone.service",
        "usr/lib/systemd/user/usbphone-user.service",
        "usr/lib/sysusers.d/usbphone.conf",
        "etc/usbphone/config.toml.example",
        "etc/usbphone/sip-password",
    }


def test_reinstall_keeps_admin_files_and_uninstall_removes_ours(tmp_path: Path) -> None:
    assert usbphone("install", "--destdir", str(tmp_path)).returncode == 0
    config = tmp_path / "etc/usbphone/config.toml"
    config.write_text('[sip]\nbind = "127.0.0.1:5070"\n')
    (tmp_path / "etc/usbphone/sip-password").write_text("secret\n")
    assert usbphone("install", "--destdir", str(tmp_path)).returncode == 0
    assert config.read_text() == '[sip]\nbind = "127.0.0.1:5070"\n'
    assert (tmp_path / "etc/usbphone/sip-password").read_text() == "secret\n"

    proc = usbphone("uninstall", "--destdir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path) == {"etc/usbphone/config.toml", "etc/usbphone/sip-password"}
    assert "kept" in proc.stdout
    assert usbphone("uninstall", "--destdir", str(tmp_path)).stdout.strip().endswith("nothing to remove")
    assert usbphone("uninstall", "--destdir", str(tmp_path), "--purge").returncode == 0
    assert _files(tmp_path) == set() and not (tmp_path / "etc/usbphone").exists()


def test_install_exec_override_and_include_local(tmp_path: Path) -> None:
    local = tmp_path / "local" / "my-phone"
    local.mkdir(parents=True)
    (local / "profile.toml").write_text('[device]\nname = "Mine"\ndriver = "hid_telephony"\ntransport = "hidraw"\n'
                                        '[[match]]\nvid = 0x1234\npid = 0x5678\n')
    env = {**os.environ, "USBPHONE_DEVICES": str(tmp_path / "local"), "XDG_CONFIG_HOME": "/nonexistent"}
    dest = tmp_path / "dest"
    proc = subprocess.run([USBPHONE, "install", "--destdir", str(dest), "--exec", "/opt/usbphone/bin/usbphone",
                           "--include-local"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    unit = (dest / "etc/systemd/system/usbphone.service").read_text()
    assert "ExecStart=/opt/usbphone/bin/usbphone run --config" in unit
    assert 'KERNELS=="0003:1234:5678.*", ENV{USBPHONE_PROFILE}="my-phone"' in (
        dest / "etc/udev/rules.d/70-usbphone.rules").read_text()


def test_install_warns_when_exec_is_under_home(tmp_path: Path) -> None:
    proc = usbphone("install", "--destdir", str(tmp_path), "--exec", "/home/me/.venv/bin/usbphone")
    assert proc.returncode == 0
    assert "ProtectHome" in proc.stderr


def test_system_install_needs_root_with_one_clear_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", USBPHONE,
                               "install"], capture_output=True, text=True, timeout=60)
    else:
        proc = usbphone("install")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["usbphone install: installing into the system needs root: run "
                                                "`sudo usbphone install` (or stage with --destdir DIR)"]


@pytest.mark.skipif(not shutil.which("systemd-sysusers"), reason="systemd-sysusers missing (Debian package systemd)")
def test_sysusers_entry_creates_user_and_group(tmp_path: Path) -> None:
    assert usbphone("install", "--destdir", str(tmp_path)).returncode == 0
    (tmp_path / "etc").mkdir(exist_ok=True)
    for name in ("passwd", "group"):
        (tmp_path / "etc" / name).write_text("root:x:0:0:root:/root:/bin/sh\n" if name == "passwd" else "root:x:0:\n")
    proc = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(tmp_path / "etc/sysusers.d/usbphone.conf")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    passwd = (tmp_path / "etc/passwd").read_text()
    group = (tmp_path / "etc/group").read_text()
    user = next(line for line in passwd.splitlines() if line.startswith("usbphone:")).split(":")
    gid = next(line for line in group.splitlines() if line.startswith("usbphone:")).split(":")[2]
    assert user[3] == gid and user[5] == "/var/lib/usbphone" and user[6] == "/usr/sbin/nologin"
    assert 0 < int(user[2]) < 1000  # a system user


# --- a real (non-staged) install, in a private mount namespace so the host's /etc and /run stay untouched ----

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> {calls}
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare (util-linux)")
def test_system_install_reloads_udev_systemd_and_sysusers(tmp_path: Path) -> None:
    if subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode != 0:
        pytest.skip("unshare -m is not permitted here")
    etc = tmp_path / "etc"
    shutil.copytree("/etc", etc, symlinks=True, ignore_dangling_symlinks=True)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("systemd-sysusers", "udevadm", "systemctl"):
        (stubs / tool).write_text(STUB.format(calls=calls))
        (stubs / tool).chmod(0o755)
    script = (f"mount --bind {etc} /etc && mount -t tmpfs tmpfs /run && mkdir -p /run/udev /run/systemd/system && "
              "touch /run/udev/control && "
              f"PATH={stubs}:$PATH {USBPHONE} install && PATH={stubs}:$PATH {USBPHONE} uninstall")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "USBPHONE_DEVICES": "", "XDG_CONFIG_HOME": "/nonexistent"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert calls.read_text().splitlines() == [
        "systemd-sysusers /etc/sysusers.d/usbphone.conf",
        "udevadm control --reload",
        "udevadm trigger --action=change --subsystem-match=hidraw --subsystem-match=usb --subsystem-match=tty",
        "systemctl daemon-reload",
        # uninstall: no sysusers (the user and group stay), the rest reloads again
        "udevadm control --reload",
        "udevadm trigger --action=change --subsystem-match=hidraw --subsystem-match=usb --subsystem-match=tty",
        "systemctl daemon-reload",
    ]
    assert "installed /etc/udev/rules.d/70-usbphone.rules" in proc.stdout
    assert "removed /etc/udev/rules.d/70-usbphone.rules" in proc.stdout
    assert (etc / "usbphone/sip-password").exists() and not (etc / "udev/rules.d/70-usbphone.rules").exists()
    assert not Path("/etc/sysusers.d/usbphone.conf").exists()  # the host was not touched

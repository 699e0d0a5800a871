"""The systemd units in udev/: hardened (exposure <= 3.0), yet able to work.

- `systemd-analyze security --offline=true` scores every udev/*.service (CI gate, as ../shared/checks/udev-systemd).
- The settings the service needs are present (network, netlink for udev, device groups, credentials, restart).
- The installed unit's ExecStart runs under the same limits: an unprivileged uid (setpriv --reuid/--regid),
  only the supplementary groups the unit names, no new privileges, an empty capability bounding set, a
  read-only root file system (ProtectSystem=strict) with one writable state directory, umask 0077, the
  systemd-style environment and a credentials directory holding the SIP password. Needs root (skipped else).
"""

from __future__ import annotations

import grp
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from usbphone.config import default_paths

ROOT = Path(__file__).resolve().parents[1]
UNITS = sorted((ROOT / "udev").glob("*.service"))
NOBODY = 65534


def _settings(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_units_exist() -> None:
    assert {u.name for u in UNITS} == {"usbphone.service", "usbphone-user.service"}


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze missing (Debian package systemd)")
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_at_most_3(unit: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                          text=True, timeout=60)
    match = re.search(r"exposure level for .*: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 3.0, proc.stdout


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_keeps_what_the_service_needs(unit: Path) -> None:
    s = _settings(unit)
    families = " ".join(s["RestrictAddressFamilies"]).split()
    assert set(families) == {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}  # SIP/RTP, journal, udev monitor
    assert "PrivateNetwork" not in s and "IPAddressDeny" not in s and "PrivateDevices" not in s
    assert s["DevicePolicy"] == ["closed"]
    allowed = {v.split()[0] for v in s["DeviceAllow"]}
    assert {"char-hidraw", "char-usb_device", "char-alsa", "char-ttyUSB", "char-ttyACM"} <= allowed
    assert all(v.endswith(" rw") for v in s["DeviceAllow"])
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"] and s["CapabilityBoundingSet"] == [""]
    assert s["Restart"] == ["on-failure"]
    assert "RUN+=" not in unit.read_text()
    assert s["ExecStart"][0].startswith("/usr/bin/usbphone run --config ")  # rewritten by `usbphone install`


def test_system_unit_runs_unprivileged_with_credentials() -> None:
    s = _settings(ROOT / "udev" / "usbphone.service")
    assert s["User"] == ["usbphone"] and s["Group"] == ["usbphone"]
    assert s["LoadCredential"] == ["sip-password:/etc/usbphone/sip-password"]
    assert "DynamicUser" not in s
    # it starts only once configured, and reads the file the config module reads by default
    config = "/etc/usbphone/config.toml"
    assert s["ConditionPathExists"] == [config] and s["ExecStart"] == [f"/usr/bin/usbphone run --config {config}"]
    assert Path(config) in default_paths()
    sysusers = (ROOT / "udev" / "usbphone.sysusers").read_text()
    assert re.search(r"^u usbphone -:usbphone ", sysusers, re.M) and re.search(r"^g usbphone -", sysusers, re.M)


def test_user_unit_is_gated_on_the_user_config() -> None:
    s = _settings(ROOT / "udev" / "usbphone-user.service")
    # the user's config, and no system appliance config (both would fight over the handset)
    assert s["ConditionPathExists"] == ["%E/usbphone/config.toml", "!/etc/usbphone/config.toml"]
    assert "User" not in s and "LoadCredential" not in s  # a user manager runs it as that user
    assert s["ExecStart"] == ["/usr/bin/usbphone run --config %E/usbphone/config.toml"]


# --- ExecStart under the unit's limits ---------------------------------------------------------------------

def _can_sandbox() -> bool:
    if os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("unshare")):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode == 0


needs_root = pytest.mark.skipif(not _can_sandbox(), reason="needs root, setpriv and unshare (util-linux)")


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory the unprivileged uid can reach (pytest's tmp_path sits below a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="usbphone-unit-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _installed_exec_start(tmp_path: Path) -> list[str]:
    destdir = tmp_path / "dest"
    exe = str(Path(sys.executable).parent / "usbphone")
    subprocess.run([exe, "install", "--destdir", str(destdir)], check=True, capture_output=True, timeout=60)
    s = _settings(destdir / "etc/systemd/system/usbphone.service")
    return shlex.split(s["ExecStart"][0])


def _run_confined(tmp_path: Path, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run argv as the service would: unprivileged, capability-free, read-only root, one writable dir."""
    state = tmp_path / "state"
    creds = tmp_path / "credentials"
    for d in (state, creds):
        d.mkdir(exist_ok=True)
    (creds / "sip-password").write_text("s3cret-password\n")
    os.chown(creds / "sip-password", NOBODY, NOBODY)
    (creds / "sip-password").chmod(0o400)
    groups = ",".join(str(grp.getgrnam(g).gr_gid) for g in ("audio", "dialout") if _has_group(g))
    group_args = [f"--groups={groups}"] if groups else ["--clear-groups"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(state), "TMPDIR": str(state),
           "PYTHONUNBUFFERED": "1", "CREDENTIALS_DIRECTORY": str(creds), "USBPHONE_DEVICES": "",
           "XDG_CONFIG_HOME": str(state)}
    inner = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", *group_args, "--no-new-privs",
             "--inh-caps=-all", "--bounding-set=-all", "--", "env", "-i",
             *(f"{k}={v}" for k, v in env.items()), "sh", "-c", 'umask 077; exec "$@"', "sh", *argv]
    script = ("mount --make-rprivate / && mount -o remount,bind,ro / && "
              f"mount -t tmpfs -o mode=0700,uid={NOBODY} tmpfs {shlex.quote(str(state))} && "
              "cd / && exec " + shlex.join(inner))
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=timeout)


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@needs_root
def test_exec_start_binary_works_under_the_unit_limits(open_tmp: Path) -> None:
    tmp_path = open_tmp
    argv = _installed_exec_start(tmp_path)
    assert Path(argv[0]).name == "usbphone" and argv[1:3] == ["run", "--config"]
    proc = _run_confined(tmp_path, [argv[0], "devices", "--all"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # the limits were really in force
    probe = _run_confined(tmp_path, ["sh", "-c", "id -u; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; "
                                                 f"touch {ROOT}/.write-test 2>&1 || true"])
    assert probe.stdout.split()[0] == str(NOBODY)
    assert "CapBnd:\t0000000000000000" in probe.stdout and "NoNewPrivs:\t1" in probe.stdout
    assert "Read-only file system" in probe.stdout


@needs_root
def test_exec_start_run_replays_a_call_under_the_unit_limits(open_tmp: Path) -> None:
    tmp_path = open_tmp
    argv = _installed_exec_start(tmp_path)
    help_run = subprocess.run([argv[0], "run", "--help"], capture_output=True, text=True, timeout=60)
    if help_run.returncode != 0 or "--replay" not in help_run.stdout:
        pytest.skip("`usbphone run --replay` is not available in this build yet")
    traces = sorted(ROOT.glob("devices/*/traces/*dial*.hid")) or sorted(ROOT.glob("devices/*/traces/*.hid"))
    if not traces:
        pytest.skip("no trace in devices/ to replay")
    golden = traces[0].with_suffix(".events")
    config = tmp_path / "config.toml"
    config.write_text('[sip]\nbind = "127.0.0.1:0"\ninbound_networks = ["loopback"]\n\n'
                      '[[account]]\nname = "t"\nuser = "alice"\ndomain = "127.0.0.1"\n'
                      f'password_file = "{tmp_path}/credentials/sip-password"\n')
    config.chmod(0o644)
    log = tmp_path / "state" / "events.jsonl"  # in the writable state directory (tmpfs inside the sandbox)
    cmd = [*argv[:2], "--config", str(config), "--replay", str(traces[0]), "--log-json", str(log)]
    script = f'{shlex.join(cmd)}; rc=$?; cat {shlex.quote(str(log))}; exit $rc'
    proc = _run_confined(tmp_path, ["sh", "-c", script], timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out and "Permission denied" not in out
    assert "s3cret-password" not in out
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert any(r.get("status") == "ready" and r.get("sip", "").startswith("127.0.0.1:") for r in records), out
    events = [f"{r['event']} {r['value']}" for r in records if r.get("kind") == "handset_event"]
    if golden.exists():  # the replayed handset went through the app's whole event path
        expected = [ln for ln in golden.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        assert events == expected, out[-3000:]
    else:
        assert events, out[-3000:]

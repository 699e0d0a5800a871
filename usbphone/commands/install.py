"""`usbphone install`: put the udev rules, systemd units, sysusers entry and config skeleton in place.

``--prefix /usr`` uses the vendor locations a distribution package uses (/usr/lib/udev/rules.d, ...); any
other prefix (default /usr/local) uses the administrator locations under /etc, because udev does not read
/usr/local/lib/udev/rules.d. ``--destdir DIR`` stages everything below DIR (packaging, tests) and then
nothing is reloaded. The units' ExecStart points at the usbphone that runs this command (``--exec`` to
override). An existing config.toml or sip-password is never overwritten. `usbphone uninstall` (see
uninstall.py) removes what this installs. Edit this module when an installed file is added or moves.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from usbphone.errors import UserError
from usbphone.udev import RULES_NAME, SYSTEM_UNIT, USER_UNIT, builtin_rules

HELP = "install udev rules, systemd units and the config skeleton (--destdir to stage, --prefix /usr for packages)"

SOURCE_DIR = Path(__file__).resolve().parents[2] / "udev"  # the unit files and skeleton in the source tree
UNIT_EXEC = "/usr/bin/usbphone"  # the ExecStart binary written in udev/*.service, replaced at install
CONFIG_DIR = Path("/etc/usbphone")


@dataclass(frozen=True)
class Layout:
    """Where each installed file goes (absolute, before --destdir)."""

    rules: Path
    system_unit: Path
    user_unit: Path
    sysusers: Path
    config_example: Path
    config: Path
    password: Path

    @classmethod
    def for_prefix(cls, prefix: str) -> Layout:
        base = Path("/usr/lib") if Path(prefix) == Path("/usr") else Path("/etc")
        return cls(
            rules=base / "udev/rules.d" / RULES_NAME,
            system_unit=base / "systemd/system" / SYSTEM_UNIT,
            user_unit=base / "systemd/user" / USER_UNIT,
            sysusers=base / "sysusers.d/usbphone.conf",
            config_example=CONFIG_DIR / "config.toml.example",
            config=CONFIG_DIR / "config.toml",
            password=CONFIG_DIR / "sip-password",
        )

    def managed(self) -> list[Path]:
        """Files that install always (re)writes and uninstall removes."""
        return [self.rules, self.system_unit, self.user_unit, self.sysusers, self.config_example]

    def user_data(self) -> list[Path]:
        """Files that belong to the administrator once created (uninstall removes them only with --purge)."""
        return [self.config, self.password]


def staged(destdir: str, path: Path) -> Path:
    return Path(destdir) / path.relative_to("/") if destdir else path


def default_exec() -> str:
    """The command that starts this usbphone: the running script, else the one on PATH, else python -m."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "usbphone" and argv0.exists():
        return str(argv0.resolve().parent / argv0.name)  # keep the venv's bin/ (its python is a symlink)
    found = shutil.which("usbphone")
    if found:
        return found
    return f"{shlex.quote(sys.executable)} -m usbphone.cli"


def render_unit(name: str, exec_cmd: str) -> str:
    """udev/<name> with its ExecStart binary replaced by ``exec_cmd``."""
    src = SOURCE_DIR / name
    try:
        text = src.read_text()
    except OSError:
        raise UserError(f"cannot read {src}: run `usbphone install` from a usbphone source checkout") from None
    return "\n".join(
        line.replace(f"ExecStart={UNIT_EXEC} ", f"ExecStart={exec_cmd} ", 1) for line in text.split("\n")
    )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", default="/usr/local",
                        help="/usr = vendor locations (/usr/lib/...); anything else = /etc (default /usr/local)")
    parser.add_argument("--destdir", default="", help="stage below this directory; nothing is reloaded")
    parser.add_argument("--no-reload", action="store_true",
                        help="do not run systemd-sysusers, udevadm and systemctl after installing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--exec", dest="exec_cmd", default="",
                        help="the command the units start (default: this usbphone)")
    parser.add_argument("--include-local", action="store_true",
                        help="rules also cover local profiles (/etc/usbphone/devices, ~/.config/usbphone/devices)")


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def _run(cmd: list[str]) -> None:
    """Run one reload step; report, never fail the install over it."""
    if not shutil.which(cmd[0]):
        print(f"  skipped: {cmd[0]} not found")
        return
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    status = "ok" if proc.returncode == 0 else f"failed ({(proc.stderr or proc.stdout).strip()[:200]})"
    print(f"  {shlex.join(cmd)}: {status}")


def reload_system(layout: Layout, sysusers: bool = True) -> None:
    """Create the user/group, make udev and systemd see the new files, re-apply rules to plugged devices."""
    if sysusers:
        _run(["systemd-sysusers", str(layout.sysusers)])
    if Path("/run/udev/control").exists():
        _run(["udevadm", "control", "--reload"])
        _run(["udevadm", "trigger", "--action=change", "--subsystem-match=hidraw", "--subsystem-match=usb",
              "--subsystem-match=tty"])
    else:
        print("  skipped: udevd is not running (rules apply from its next start)")
    if Path("/run/systemd/system").is_dir():
        _run(["systemctl", "daemon-reload"])
    else:
        print("  skipped: systemd is not running (units load at its next start)")


def main(args: argparse.Namespace) -> int:
    layout = Layout.for_prefix(args.prefix)
    exec_cmd = args.exec_cmd or default_exec()
    files = {
        layout.rules: builtin_rules(include_local=args.include_local),
        layout.system_unit: render_unit(SYSTEM_UNIT, exec_cmd),
        layout.user_unit: render_unit(USER_UNIT, exec_cmd),
        layout.sysusers: (SOURCE_DIR / "usbphone.sysusers").read_text(),
        layout.config_example: (SOURCE_DIR / "config.toml.example").read_text(),
    }
    if not args.destdir and os.geteuid() != 0:
        raise UserError("installing into the system needs root: run `sudo usbphone install` "
                        "(or stage with --destdir DIR)")
    for path, text in files.items():
        target = staged(args.destdir, path)
        try:
            _write(target, text, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}") from None
        print(f"installed {target}")
    password = staged(args.destdir, layout.password)
    if not password.exists():
        _write(password, "", 0o600)  # LoadCredential= needs the file; empty = no password
        print(f"installed {password} (empty, mode 0600: put the SIP password here)")
    exe = exec_cmd.split()[0]
    if exe.startswith(("/home/", "/root/")):
        print(f"warning: the units start {exe}, which is under a home directory; usbphone.service cannot reach "
              "it (ProtectHome=yes). Install usbphone outside /home and /root (e.g. a venv in /opt/usbphone) "
              "and re-run with --exec.", file=sys.stderr)
    if args.destdir or args.no_reload:
        print("not reloaded (--destdir/--no-reload); on the target run: systemd-sysusers; "
              "udevadm control --reload; udevadm trigger; systemctl daemon-reload")
    else:
        reload_system(layout)
    print(f"next: copy {layout.config_example} to {layout.config} (appliance) or to "
          "~/.config/usbphone/config.toml (desktop), then plug the handset in; check with `usbphone doctor`")
    return 0

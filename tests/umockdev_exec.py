"""Run a command against a umockdev testbed built from a description file, readable by any user.

    umockdev-wrapper python tests/umockdev_exec.py DEVICES.umockdev -- COMMAND [ARGS...]

Unlike ``umockdev-run``, the testbed directory is opened up (0755) so a command run as an unprivileged uid
(``setpriv --reuid=65534 ...``) sees the emulated /sys and /dev; children inherit the testbed through
LD_PRELOAD and UMOCKDEV_DIR. Exits with the command's status. Used by tests/test_doctor_umockdev.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402


def main(argv: list[str]) -> int:
    desc, sep, *cmd = argv
    assert sep == "--" and cmd, __doc__
    testbed = UMockdev.Testbed.new()
    testbed.add_from_string(Path(desc).read_text())
    root = testbed.get_root_dir()
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    os.chmod(root, 0o755)
    return subprocess.run(cmd, timeout=120).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

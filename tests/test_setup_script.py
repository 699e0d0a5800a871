"""tools/setup.sh, the first thing a newcomer runs (README quick start): it refuses an unsupported platform with
one clear line, and without root it prints the apt-get line to run instead of failing somewhere later. Both
are checked before the script touches .venv, on a copy of the script (PATH shims stand in for `uname` and
`dpkg-query`); the README's two commands are the Makefile targets and what CI runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shim(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def copy_tree(where: Path) -> Path:
    (where / "tools").mkdir(parents=True)
    shutil.copy2(ROOT / "tools" / "setup.sh", where / "tools" / "setup.sh")
    shutil.copy2(ROOT / "pyproject.toml", where / "pyproject.toml")
    (where / "bin").mkdir()
    return where


def test_unsupported_platform_is_one_clear_line(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    shim(tree / "bin", "uname", 'case $1 in -m) echo aarch64;; *) echo Linux;; esac')
    env = {**os.environ, "PATH": f"{tree / 'bin'}:{os.environ['PATH']}"}
    res = subprocess.run(["bash", "tools/setup.sh", "run"], cwd=tree, env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "Linux x86_64 only" in res.stderr and "aarch64" in res.stderr
    assert not (tree / ".venv").exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become 'nobody'")
def test_without_root_missing_packages_give_the_apt_get_line() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree = copy_tree(Path(tmp) / "usbphone")
        # kamailio is "not installed": the test set-up stops with the line to run, before making .venv
        real = shutil.which("dpkg-query")
        if real is None:
            pytest.skip("not a Debian system")
        shim(tree / "bin", "dpkg-query", f'for a; do [[ $a == kamailio ]] && exit 1; done; exec {real} "$@"')
        os.chmod(tmp, 0o755)
        for path in [tree, *tree.rglob("*")]:
            os.chown(path, 65534, 65534)
        env = {**os.environ, "PATH": f"{tree / 'bin'}:{os.environ['PATH']}", "HOME": str(tree)}
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash",
                              "tools/setup.sh", "test"], cwd=tree, env=env, capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 1, res.stderr
        assert "sudo apt-get install --no-install-recommends kamailio" in res.stderr
        assert not (tree / ".venv").exists()


def test_readme_commands_are_the_makefile_targets_and_ci() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "    make run " in readme and "    make test " in readme
    makefile = (ROOT / "Makefile").read_text()
    assert "run: setup\n" in makefile and "setup:\n\ttools/setup.sh run\n" in makefile
    assert "test: setup-test\n" in makefile and "setup-test:\n\ttools/setup.sh test\n" in makefile
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test"

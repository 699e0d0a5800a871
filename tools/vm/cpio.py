"""Write an uncompressed newc ("070701") cpio archive, the format the Linux kernel unpacks as an initramfs.

Pure stdlib, so the VM test needs no `cpio` package. ``pack_tree`` archives a directory (keeping modes, owners,
symlinks, device nodes and hard links as separate copies); ``CpioWriter.add_file``/``add_dir``/``add_symlink``
add single entries with a chosen path, which is how tools/vm/vmtest.py builds the small per-run overlay that
the kernel unpacks over the cached base image (the kernel concatenates initramfs archives).
Format source: linux Documentation/driver-api/early-userspace/buffer-format.rst. Edit when an entry kind
is missing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class CpioWriter:
    """Appends entries to ``out``; ``close()`` writes the TRAILER!!! record."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.ino = 1000

    def _entry(self, name: str, mode: int, data: bytes = b"", *, uid: int = 0, gid: int = 0, mtime: int = 0,
               rdev: int = 0) -> None:
        name_b = name.lstrip("/").encode() + b"\0"
        self.ino += 1
        fields = (self.ino, mode, uid, gid, 1, mtime, len(data), 0, 0, os.major(rdev), os.minor(rdev),
                  len(name_b), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out.write(header + name_b)
        self.out.write(b"\0" * (-(len(header) + len(name_b)) % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % 4))

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def add_path(self, name: str, path: Path) -> None:
        """One filesystem object as it is (not followed when it is a symlink)."""
        st = path.lstat()
        common = {"uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime)}
        if stat.S_ISLNK(st.st_mode):
            self._entry(name, st.st_mode, os.readlink(path).encode(), **common)
        elif stat.S_ISREG(st.st_mode):
            self._entry(name, st.st_mode, path.read_bytes(), **common)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            self._entry(name, st.st_mode, rdev=st.st_rdev, **common)
        elif stat.S_ISDIR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            self._entry(name, st.st_mode, **common)
        # sockets are skipped: nothing in a fresh root filesystem needs one

    def close(self) -> None:
        self._entry("TRAILER!!!", 0)
        self.out.write(b"\0" * (-self.out.tell() % 512))


def pack_tree(root: Path, out_path: Path) -> None:
    """Archive everything below ``root`` (paths relative to it) into ``out_path``, parents before children."""
    tmp = out_path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        w = CpioWriter(f)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            base = Path(dirpath)
            rel = base.relative_to(root)
            if rel != Path("."):
                w.add_path(str(rel), base)
            for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
                w.add_path(str(rel / name), base / name)
        w.close()
    tmp.replace(out_path)

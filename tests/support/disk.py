"""A small real filesystem for disk-failure tests: a tmpfs mounted on a
directory, which a test can fill up, free again, or remount read-only.

Mounting needs root (the CI runs the tests as root). Elsewhere the tests that
use it are skipped, saying why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = ".filler"


class SmallDisk:
    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        self.size_kb = size_kb

    def _mount(self, options: str) -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)], check=True)

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._mount(f"size={self.size_kb}k,mode=0777")

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)

    def fill(self) -> int:
        """Take every free byte (what a runaway log file would do); returns how many."""
        written = 0
        fd = os.open(self.path / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for chunk in (65536, 4096, 512, 1):
                try:
                    while True:
                        written += os.write(fd, b"\0" * chunk)
                except OSError:
                    continue
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        (self.path / FILLER).unlink(missing_ok=True)

    def is_full(self) -> bool:
        return os.statvfs(self.path).f_bavail == 0

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def read_write(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)


def can_mount() -> str | None:
    """Why a tmpfs cannot be mounted here, or None if it can."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    return None


def small_disk_at(path: Path, size_kb: int = 4096) -> Iterator[SmallDisk]:
    why = can_mount()
    if why:
        pytest.skip(why)
    disk = SmallDisk(path, size_kb)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()

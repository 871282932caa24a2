"""What is wrong with a disk, in words: SQLite and Python's I/O errors do not
always say (SQLite: "unable to open database file")."""

from __future__ import annotations

import os
from pathlib import Path


def disk_problem(path: Path) -> str:
    """What is wrong with the disk under ``path``, as a suffix for an error
    message (SQLite only says "unable to open database file")."""
    directory = Path(path).parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError):  # AttributeError: no statvfs on Windows
        return ""
    if stats.f_flag & os.ST_RDONLY:
        return f" ({directory} is on a read-only file system)"
    if stats.f_bavail == 0:
        return f" (the disk of {directory} is full)"
    if not os.access(directory, os.W_OK):
        return f" (no permission to write in {directory})"
    return ""

"""The default sink: InfluxDB line protocol in local files, one per session and
UTC day: ``<dir>/<session>/<YYYY-MM-DD>.lp``.

Import later with (precision: microseconds)::

    influx write --bucket gazewire --precision us --format lp --file <dir>/<session>/<day>.lp

Every point is written once. The journal feed notes each file's size in the sink's
checkpoint before it appends (:meth:`LineProtocolFiles.intent`), appends and
fsyncs, then moves the checkpoint on; after a crash in between, the files are cut
back to the noted sizes (:meth:`LineProtocolFiles.recover`) and the same lines are
written again - so no line is lost or written twice. A failed write (disk full,
permissions) raises SinkUnavailable; the feed retries it, the journal keeps the points.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from gazewire.processor.outputs.sink import Entry, SinkUnavailable

log = logging.getLogger(__name__)

SUFFIX = ".lp"
_DAY_US = 86_400_000_000
NO_SESSION_DIR = "_processor"


def day_of(time_us: int) -> str:
    return datetime.fromtimestamp(time_us // 1_000_000, tz=timezone.utc).strftime("%Y-%m-%d")


def file_for(directory: Path, session: str | None, time_us: int) -> Path:
    return directory / (session or NO_SESSION_DIR) / f"{day_of(time_us)}{SUFFIX}"


class LineProtocolFiles:
    name = "lineprotocol"
    kind = "lineprotocol"

    def __init__(self, directory: Path, *, max_open_files: int = 32) -> None:
        self.directory = Path(directory)
        self.target = str(self.directory)
        self.max_open_files = max_open_files
        self._files: OrderedDict[Path, BinaryIO] = OrderedDict()
        self._grouped: tuple[Sequence[Entry], dict[Path, list[str]]] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def _by_file(self, entries: Sequence[Entry]) -> dict[Path, list[str]]:
        """The lines of each file, in order. The file is the session's and the UTC day's: paths
        are made once per (session, day), not once per line. Computed once for the
        :meth:`intent` and the :meth:`write` of the same entries."""
        if self._grouped is not None and self._grouped[0] is entries:
            return self._grouped[1]
        by_day: dict[tuple[str | None, int], list[str]] = {}
        if entries:
            texts, sessions, times = zip(*entries)
            day = min(times) // _DAY_US
            distinct = dict.fromkeys(sessions)
            if max(times) // _DAY_US != day:  # a slice across midnight: line by line
                pass
            elif len(distinct) == 1:  # nearly always: one day, one session
                by_day[(sessions[0], day)] = list(texts)
            else:
                for session in distinct:
                    by_day[(session, day)] = [text for text, s in zip(texts, sessions) if s == session]
            if not by_day:
                for line, session, time_us in entries:
                    key = (session, time_us // _DAY_US)
                    group = by_day.get(key)
                    if group is None:
                        group = by_day[key] = []
                    group.append(line)
        grouped = {file_for(self.directory, session, day * _DAY_US): lines for (session, day), lines in by_day.items()}
        self._grouped = (entries, grouped)
        return grouped

    def intent(self, entries: Sequence[Entry]) -> str | None:
        """The size of every file the write will append to, before it does."""
        sizes = {}
        for path in self._by_file(entries):
            try:
                sizes[str(path)] = path.stat().st_size
            except FileNotFoundError:
                sizes[str(path)] = 0
        return json.dumps(sizes)

    def recover(self, intent: str) -> None:
        """Cut the files back to the sizes noted before a write a crash may have torn."""
        for name, size in json.loads(intent).items():
            path = Path(name)
            try:
                if path.stat().st_size > size:
                    with path.open("r+b") as handle:
                        handle.truncate(size)
                        os.fsync(handle.fileno())
                    log.info("line-protocol file %s cut back to %d bytes (a write torn by a crash)", path, size)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise SinkUnavailable(f"cannot repair {path}: {error}") from None

    def write(self, entries: Sequence[Entry]) -> None:
        """Append the lines to their files and fsync them."""
        grouped = self._by_file(entries)
        self._grouped = None
        for path, lines in grouped.items():
            try:
                handle = self._open(path)
                handle.write(("\n".join(lines) + "\n").encode())
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as error:
                self._close_file(path)
                raise SinkUnavailable(f"{path}: {error}") from None

    def close(self) -> None:
        for path in list(self._files):
            self._close_file(path)

    def _open(self, path: Path) -> BinaryIO:
        handle = self._files.get(path)
        if handle is not None:
            self._files.move_to_end(path)
            return handle
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("ab")
        self._files[path] = handle
        while len(self._files) > self.max_open_files:
            self._close_file(next(iter(self._files)))
        return handle

    def _close_file(self, path: Path) -> None:
        handle = self._files.pop(path, None)
        if handle is not None:
            try:
                handle.close()
            except OSError as error:
                log.warning("closing %s failed: %s", path, error)

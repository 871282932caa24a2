"""The default sink: InfluxDB line protocol in local files, one per session and
UTC day: ``<dir>/<session>/<YYYY-MM-DD>.lp``.

Import later with (precision: microseconds)::

    influx write --bucket gazewire --precision us --format lp --file <dir>/<session>/<day>.lp

Points are written (and flushed to the operating system) before the batch
that produced them is acknowledged to the broker, so a crash of the processor
loses none of them. A batch handled twice (a redelivery after a crash) appends
the same lines again; InfluxDB overwrites identical points on import, so the
data are not duplicated.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from gazewire.processor.outputs.lineprotocol import Point
from gazewire.processor.outputs.sink import SinkReport

log = logging.getLogger(__name__)

SUFFIX = ".lp"
NO_SESSION_DIR = "_processor"


def day_of(time_us: int) -> str:
    return datetime.fromtimestamp(time_us // 1_000_000, tz=timezone.utc).strftime("%Y-%m-%d")


def file_for(directory: Path, session: str | None, time_us: int) -> Path:
    return directory / (session or NO_SESSION_DIR) / f"{day_of(time_us)}{SUFFIX}"


class LineProtocolFiles:
    def __init__(self, directory: Path, *, max_open_files: int = 32) -> None:
        self.directory = Path(directory)
        self.max_open_files = max_open_files
        self._files: OrderedDict[Path, TextIO] = OrderedDict()
        self._report = SinkReport(kind="lineprotocol", target=str(self.directory))
        self._failing = False

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, points: Sequence[Point]) -> None:
        self.write_lines([(point.line(), point.session, point.time_us) for point in points])

    def write_lines(self, entries: Sequence[tuple[str, str | None, int]]) -> None:
        """Lines already encoded, each with its session and time (which file it goes to)."""
        by_file: dict[Path, list[str]] = {}
        for line, session, time_us in entries:
            by_file.setdefault(file_for(self.directory, session, time_us), []).append(line)
        for path, lines in by_file.items():
            try:
                handle = self._open(path)
                handle.write("\n".join(lines) + "\n")
                handle.flush()
            except OSError as error:
                self._report.points_dropped += len(lines)
                self._report.last_error = f"{path}: {error}"
                self._report.state = "failing"
                if not self._failing:
                    log.error("cannot write line-protocol file %s: %s; points are dropped and counted", path, error)
                self._failing = True
                self._close_file(path)
                continue
            self._report.points_written += len(lines)
            if self._failing:
                log.info("line-protocol files are writable again (%d points dropped so far)", self._report.points_dropped)
                self._failing = False
                self._report.state = "ok"

    def close(self, timeout_s: float = 0.0) -> None:
        for path in list(self._files):
            self._close_file(path)

    def report(self) -> SinkReport:
        return SinkReport(**self._report.as_dict())

    def _open(self, path: Path) -> TextIO:
        handle = self._files.get(path)
        if handle is not None:
            self._files.move_to_end(path)
            return handle
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a", encoding="utf-8", newline="\n")
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

"""``gazewire processor replay``: rebuild a sink from the journal.

Every record received since a moment is written again to InfluxDB or to
line-protocol files, exactly as the live processor wrote it (a replayed point is
byte-identical, so InfluxDB overwrites what it has and fills in what it lacks).
The replay keeps its own checkpoint (``replay-<sink>``, removed when done), so a
running processor's sink is not disturbed. Line-protocol files are only written into
a directory without any: appending to files that hold some of the points already
would write those twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from gazewire.settings import SettingsError
from gazewire.processor.config import ProcessorSettings
from gazewire.processor.journal import Journal
from gazewire.processor.journal.feed import SinkFeed
from gazewire.processor.outputs.files import SUFFIX, LineProtocolFiles
from gazewire.processor.outputs.influx import InfluxSink
from gazewire.processor.outputs.sink import Sink

log = logging.getLogger(__name__)


class ReplayError(SettingsError):
    """A replay cannot start (no journal, no such sink, a target that would be written twice)."""


@dataclass(frozen=True)
class ReplayResult:
    records: int
    points_written: int
    points_rejected: int


def replay_sink(settings: ProcessorSettings, sink_kind: str | None) -> Sink:
    kind = sink_kind or ("influx" if settings.influx.url else "lineprotocol")
    if kind == "influx":
        if not settings.influx.url:
            raise ReplayError("--sink influx needs influx.url (--influx-url or GAZEWIRE_INFLUX__URL)")
        sink: Sink = InfluxSink(settings.influx)
    else:
        directory = settings.lineprotocol_path
        if directory.exists() and any(directory.rglob(f"*{SUFFIX}")):
            raise ReplayError(
                f"{directory} already holds line-protocol files; replaying into it would write points twice "
                "(give an empty --lineprotocol-dir)"
            )
        sink = LineProtocolFiles(directory)
    sink.name = f"replay-{sink.name}"  # its own checkpoint, not the live sink's
    return sink


def replay(
    settings: ProcessorSettings, *, since_utc_us: int | None, sink_kind: str | None = None,
    progress=lambda done, total: None,
) -> ReplayResult:
    path = settings.journal_path
    if not Path(path).exists():
        raise ReplayError(f"no journal at {path} (journal.path, --data-dir)")
    journal = Journal(path)
    sink = replay_sink(settings, sink_kind)
    journal.drop_checkpoint(sink.name)
    start = journal.first_position(received_from_utc_us=since_utc_us)
    end = journal.last_position
    influx = settings.influx
    feed = SinkFeed(sink, journal, batch_points=influx.batch_points, flush_interval_s=0.05,
                    retry_min_s=influx.retry_min_s, retry_max_s=influx.retry_max_s, gaze_hz=influx.gaze_hz)
    feed.start(from_position=start)
    try:
        while True:
            report = feed.report()
            progress(report.checkpoint - start, end - start)
            if report.checkpoint >= end:
                break
            if report.state != "ok":
                log.warning("%s: %s (retrying)", sink.kind, report.last_error)
            time.sleep(0.5)  # a progress line every half second; the feed does the work
    finally:
        feed.close(5.0)
        journal.drop_checkpoint(sink.name)
        journal.close()
    report = feed.report()
    return ReplayResult(max(0, end - start), report.points_written, report.points_rejected)

"""One sink fed from the journal, on its own thread, with its own durable checkpoint.

After each journal commit the processor offers the stored records (with the messages
they were made from, so a sink that keeps up never parses them again). The feed
writes them in slices of up to ``batch_points`` points, as soon as that many are
waiting or the oldest has waited ``flush_interval_s``; after each slice it moves the
sink's checkpoint (in the journal) to the slice's last record. When the sink falls
behind - InfluxDB down, a full disk under the line-protocol files, a processor
restart - the offered records are not kept: the feed reads from the journal where
its checkpoint says, for as long as it takes. A failed slice is retried with capped
exponential backoff; an outage is logged when it starts and when it ends.

Exactly once: a slice is written, then the checkpoint moves. A crash in between
writes the slice again on start. For InfluxDB that is harmless (a replayed point is
byte-identical and overwrites itself); the line-protocol files note their sizes in
the checkpoint before appending and are cut back to them on recovery.

Without a journal (``journal.enabled = false``) the same feed takes offered records
into a bounded memory buffer (``influx.buffer_points``); what overflows it, or is
still waiting at shutdown, is dropped and counted (``points_dropped``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gazewire.processor.journal.convert import outcome_of, point_count
from gazewire.processor.journal.records import CorruptRecord, JournalError, Record
from gazewire.processor.journal.store import Journal
from gazewire.processor.outputs.points import entries_of as outcome_entries
from gazewire.processor.outputs.sink import Entry, Sink, SinkRejected, SinkReport, SinkUnavailable

log = logging.getLogger(__name__)

READ_RECORDS = 200  # records read from the journal at a time while catching up
MAX_OFFERED_CHUNKS = 256  # offered commits kept while the sink is busy (the journal has them anyway)
REJECTION_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Chunk:
    after: int  # the journal position the chunk continues from
    records: list[Record]
    points: int

    @property
    def last(self) -> int:
        return self.records[-1].position


def entries_of(records: Sequence[Record], *, gaze_hz: float = 0.0) -> list[tuple[int, list[Entry]]]:
    """Each record's position and its points as line-protocol entries (``gaze_hz``: see
    :func:`gazewire.processor.outputs.points.gaze_rows`)."""
    return [(record.position, outcome_entries(outcome_of([record]), gaze_hz=gaze_hz)) for record in records]


class SinkFeed:
    def __init__(
        self,
        sink: Sink,
        journal: Journal | None,
        *,
        batch_points: int = 5000,
        flush_interval_s: float = 1.0,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        buffer_points: int = 500_000,
        gaze_hz: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.gaze_hz = gaze_hz
        self.journal = journal
        self.batch_points = batch_points
        self.flush_interval_s = flush_interval_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.buffer_points = buffer_points
        self._clock = clock
        self._condition = threading.Condition()
        self._inbox: deque[Chunk] = deque()
        self._inbox_points = 0
        self._position = 0  # everything up to here is written
        self._target = 0  # the journal's last position
        self._waiting_since: float | None = None
        self._stopping = False
        self._deadline: float | None = None
        self._wake = threading.Event()
        self._report = SinkReport(kind=sink.kind, target=sink.target)
        self._outage_since: float | None = None
        self._last_rejection_log = -REJECTION_LOG_INTERVAL_S
        self._thread = threading.Thread(target=self._run, name=f"gazewire-feed-{sink.name}", daemon=True)

    # ------------------------------------------------------------------ the processor's side

    def start(self, *, from_position: int | None = None) -> None:
        """Resume from the sink's checkpoint (or ``from_position``: replay), then run."""
        self.sink.start()
        if self.journal is not None:
            checkpoint = self.journal.checkpoint(self.sink.name)
            if checkpoint is not None and checkpoint.intent:
                self.sink.recover(checkpoint.intent)
            if from_position is not None:
                self._position = from_position
            elif checkpoint is not None:
                self._position = checkpoint.position
            self._target = self.journal.last_position
            if self._target > self._position:
                self._waiting_since = self._clock() - self.flush_interval_s
                log.info(
                    "%s sink: catching up from journal position %d to %d", self.sink.kind, self._position, self._target
                )
        self._thread.start()

    def offer(self, records: Sequence[Record], *, after: int) -> None:
        """Records just stored (journal positions ``after``..), for the sink to write."""
        if not records:
            return
        chunk = Chunk(after, list(records), sum(point_count(r, self.gaze_hz) for r in records))
        with self._condition:
            self._inbox.append(chunk)
            self._inbox_points += chunk.points
            self._target = max(self._target, chunk.last)
            if self._waiting_since is None:
                self._waiting_since = self._clock()
            self._limit_inbox()
            if self._inbox_points >= self.batch_points or len(self._inbox) == 1:
                self._condition.notify()

    def close(self, timeout_s: float) -> None:
        """Write what is waiting for up to ``timeout_s``, then stop (the journal keeps the rest)."""
        with self._condition:
            self._stopping = True
            self._deadline = self._clock() + timeout_s
            self._condition.notify()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s + 30.0)
        with self._condition:
            if self.journal is None and self._inbox_points:
                self._report.points_dropped += self._inbox_points
                log.error("%d points not written to the %s sink before shutdown are lost (no journal)",
                          self._inbox_points, self.sink.kind)
                self._inbox.clear()
                self._inbox_points = 0
        self.sink.close()

    def report(self) -> SinkReport:
        with self._condition:
            report = SinkReport(**self._report.as_dict())
            report.checkpoint = self._position
            report.records_behind = max(0, self._target - self._position) if self.journal is not None else 0
            return report

    @property
    def caught_up(self) -> bool:
        with self._condition:
            return self._position >= self._target

    # ------------------------------------------------------------------ the feed's thread

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._wait_for_work():
                    return
            try:
                records = self._gather()
            except CorruptRecord as error:
                log.error("%s; the %s sink skips it", error, self.sink.kind)
                self._advance(error.position)
                continue
            except Exception:  # never let the feed die: log, wait, try again
                log.exception("%s sink feed failed reading the journal; retrying", self.sink.kind)
                self._wake.wait(1.0)
                continue
            if records and not self._write(records):
                return  # stopping, deadline passed

    def _wait_for_work(self) -> bool:
        """Under the lock: wait until there is enough to write, or it is time; False: stop."""
        while True:
            pending = self._target > self._position
            if self._stopping:
                return pending and self._clock() < (self._deadline or 0)
            if pending:
                waited = self._clock() - (self._waiting_since or self._clock())
                if self._inbox_points >= self.batch_points or waited >= self.flush_interval_s or self._behind():
                    return True
                self._condition.wait(self.flush_interval_s - waited)
            else:
                self._waiting_since = None
                self._condition.wait()

    def _behind(self) -> bool:
        """The offered records do not start where the sink is: it catches up from the journal."""
        if self.journal is None:
            return False
        return not self._inbox or self._inbox[0].after > self._position

    def _gather(self) -> list[Record]:
        with self._condition:
            while self._inbox and self._inbox[0].last <= self._position:
                self._drop_chunk()
            if self._inbox and (self._inbox[0].after <= self._position or self.journal is None):
                records: list[Record] = []
                points = 0
                while self._inbox and points < self.batch_points:
                    chunk = self._drop_chunk()
                    records += [r for r in chunk.records if r.position > self._position]
                    points += chunk.points
                if self.journal is None and records:
                    self._position = max(self._position, records[0].position - 1)
                return records
        if self.journal is None:
            with self._condition:
                self._position = max(self._position, self._target)  # what was dropped is counted
            return []
        records = self.journal.read_after(self._position, READ_RECORDS)
        if not records:  # positions skipped by duplicates: nothing more to read
            self._advance(self._target)
        return records

    def _drop_chunk(self) -> Chunk:
        chunk = self._inbox.popleft()
        self._inbox_points -= chunk.points
        return chunk

    def _limit_inbox(self) -> None:
        if self.journal is not None:
            while len(self._inbox) > MAX_OFFERED_CHUNKS:
                self._drop_chunk()  # the journal has them: read back when the sink gets there
            return
        while self._inbox_points > self.buffer_points and len(self._inbox) > 1:
            dropped = self._drop_chunk()
            self._report.points_dropped += dropped.points
            log.warning("%s sink buffer full (no journal): %d points dropped", self.sink.kind, dropped.points)

    # ------------------------------------------------------------------ writing

    def _write(self, records: list[Record]) -> bool:
        """Write the records' points in slices, moving the checkpoint after each; False if stopped."""
        pending = entries_of(records, gaze_hz=self.gaze_hz)
        while pending:
            slice_entries: list[Entry] = []
            last = self._position
            while pending and (not slice_entries or len(slice_entries) + len(pending[0][1]) <= self.batch_points):
                last, entries = pending.pop(0)
                slice_entries += entries
            if slice_entries and not self._write_slice(slice_entries):
                return False
            self._advance(last)
        return True

    def _write_slice(self, entries: list[Entry]) -> bool:
        intent = self.sink.intent(entries)
        if intent is not None:
            self._save(self._position, intent)
        failures = 0
        while True:
            try:
                self.sink.write(entries)
            except SinkRejected as error:
                self._rejected(entries, error)
                return True
            except SinkUnavailable as error:
                failures += 1
                self._failed(str(error))
                if intent is not None:
                    try:
                        self.sink.recover(intent)  # undo a partial append before trying again
                    except SinkUnavailable:
                        pass
                if not self._wait_retry(failures):
                    return False
                continue
            with self._condition:
                self._report.points_written += len(entries)
                self._recovered()
            return True

    def _advance(self, position: int) -> None:
        with self._condition:
            self._position = max(self._position, position)
        self._save(self._position, None)

    def _save(self, position: int, intent: str | None) -> None:
        if self.journal is None:
            return
        try:
            self.journal.save_checkpoint(self.sink.name, position, intent)
        except JournalError as error:  # the old checkpoint stays valid: at worst a slice is written again
            log.warning("cannot save the %s sink checkpoint: %s", self.sink.kind, error)

    def _wait_retry(self, failures: int) -> bool:
        delay = min(self.retry_max_s, self.retry_min_s * 2 ** min(failures - 1, 30))
        with self._condition:
            if self._stopping:
                left = (self._deadline or 0) - self._clock()
                if left <= 0:
                    return False
                delay = min(delay, left)
        self._wake.wait(delay)
        self._wake.clear()
        with self._condition:
            return not (self._stopping and self._clock() >= (self._deadline or 0))

    # ------------------------------------------------------------------ outcomes

    def _failed(self, error: str) -> None:
        with self._condition:
            self._report.state = "unreachable" if self.sink.kind == "influxdb" else "failing"
            self._report.last_error = error
            if self._outage_since is None:
                self._outage_since = self._clock()
                log.warning(
                    "%s sink: write failed (%s); %s and retrying (logged again when writes work)",
                    self.sink.kind, error,
                    "the journal keeps every point" if self.journal is not None
                    else f"keeping up to {self.buffer_points} points in memory",
                )

    def _recovered(self) -> None:
        self._report.state = "ok"
        self._report.last_error = None
        if self._outage_since is not None:
            log.warning(
                "%s sink: writes work again after %.1f s; catching up from journal position %d",
                self.sink.kind, self._clock() - self._outage_since, self._position,
            )
            self._outage_since = None

    def _rejected(self, entries: list[Entry], error: SinkRejected) -> None:
        with self._condition:
            self._report.points_rejected += len(entries)
            self._report.last_error = f"refused: {error}"
        now = self._clock()
        if now - self._last_rejection_log >= REJECTION_LOG_INTERVAL_S:
            self._last_rejection_log = now
            log.error("%s refused %d points as invalid (%s); counted as rejected", self.sink.kind, len(entries), error)

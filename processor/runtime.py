"""The running processor: wires the MQTT link and the parser (inputs), the
dispatcher (the pure core), the journal, the sink feed and the publisher
(outputs) together.

Threads, and what each one does:

- paho's network thread receives messages and only enqueues them
  (:class:`~gazewire.processor.inputs.link.ProcessorLink`);
- the processing thread (:meth:`Processor.run`) takes every message already
  waiting (up to ``journal.max_group_messages``: a *group*), lets the
  :class:`~gazewire.processor.pipeline.dispatch.Dispatcher` handle each, stores
  the group in the journal in one transaction (one fsync: group commit), and only
  then acknowledges the messages to the broker, publishes the fixation, AOI and
  alert messages, confirms custody of the batches to their agents
  (``gaze/custody``) and offers the stored records to the sink feed; it also
  refreshes the retained status, forgets idle sessions and applies retention;
- the sink feed's thread writes the journal's records to InfluxDB or the
  line-protocol files, catching up from the journal when it falls behind.

If a commit fails (disk full, I/O error), nothing of the group is acknowledged or
published: the processor stops taking messages (the broker keeps them, and its
in-flight window holds the rest back), says so in its status, and tries the same
commit again every ``journal.retry_s`` until it succeeds.

Observers (:meth:`Processor.observe`) see every message the processor
publishes, as ``(kind, message)`` with kind ``"fixations"``, ``"aoi"``,
``"alerts"`` or ``"processor/status"`` - e.g. ``gazewire demo``'s live view.
They run on the processing thread and must return quickly.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gazewire.wire.messages import Custody, ProcessorStatus, WireModel
from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us
from gazewire.mqtt import default_client_id
from gazewire.settings import SettingsError
from gazewire.wire.topics import Channel, Topics
from gazewire.processor.aoi_file import AoiFileError, load_aoi_file
from gazewire.processor.pipeline.aoi import NO_AOIS, AoiSet
from gazewire.processor.config import ProcessorSettings
from gazewire.processor.pipeline.dispatch import Dispatcher
from gazewire.processor.inputs.link import Delivery, ProcessorLink
from gazewire.processor.inputs.payloads import PayloadParser
from gazewire.processor.journal import Journal, JournalError, Record
from gazewire.processor.journal.convert import records_of
from gazewire.processor.journal.feed import SinkFeed
from gazewire.processor.journal.records import Packed, pack, ranges
from gazewire.processor.pipeline.outcome import Outcome
from gazewire.processor.pipeline.resume import SessionState
from gazewire.processor.outputs.files import LineProtocolFiles
from gazewire.processor.outputs.influx import InfluxSink
from gazewire.processor.outputs.publisher import Publisher
from gazewire.processor.outputs.sink import Sink
from gazewire.processor.pipeline.session import SessionConfig
from gazewire.processor.status import build_status, last_will, serving, warnings_from

log = logging.getLogger(__name__)

Observer = Callable[[str, WireModel], None]
STATUS_KIND = "processor/status"
HOUSEKEEPING_INTERVAL_S = 10.0
SHUTDOWN_SINK_TIMEOUT_S = 10.0
BATCH_TOPIC_END = "/" + Channel.GAZE_BATCH.value
# A backlog, as the processing thread sees it: this many messages were waiting when it took the
# last group (live traffic of a lab takes one to a few at a time). Then it waits up to
# BACKLOG_LINGER_S for a group twice that size: the groups grow to their limit within a few
# commits instead of tens, and the per-group costs (the detector's fixed cost per call, the commit)
# are shared by more batches. A processor following a few trackers never waits; one near its
# capacity may add up to BACKLOG_LINGER_S to an event's delay.
BACKLOG_GROUP = 8
BACKLOG_LINGER_S = 0.010
# CPython's cycle collector, tuned for what the processor allocates: many containers (a batch is
# some 30 lists and models) that live for one group of messages and form no cycles. With the
# default thresholds (700, 10, 10) it walked every batch of a group again and again and every
# module's objects on each full collection: ~14 % of the processor's CPU under a backlog (measured
# with gc.callbacks, bench/processor_drain.py's backlog in process). Start-up's objects are frozen
# (never walked again) and a collection comes after 50 000 containers more alive than freed.
GC_THRESHOLDS = (50_000, 20, 10)
_gc_tuned = False


def open_sink(settings: ProcessorSettings) -> Sink:
    """InfluxDB when a URL is set, else line-protocol files."""
    if settings.influx.url:
        return InfluxSink(settings.influx)
    return LineProtocolFiles(settings.lineprotocol_path)


def open_journal(settings: ProcessorSettings) -> Journal | None:
    if not settings.journal.enabled:
        return None
    return Journal(
        settings.journal_path, max_bytes=settings.journal.max_bytes, max_age_s=settings.journal.max_age_s
    )


def open_feed(settings: ProcessorSettings, sink: Sink, journal: Journal | None) -> SinkFeed:
    influx = settings.influx
    return SinkFeed(
        sink, journal, batch_points=influx.batch_points, flush_interval_s=influx.flush_interval_s,
        retry_min_s=influx.retry_min_s, retry_max_s=influx.retry_max_s, buffer_points=influx.buffer_points,
        gaze_hz=influx.gaze_hz,
    )


def shared(topic_filter: str, group: str | None) -> str:
    """``topic_filter`` as an MQTT 5 shared subscription of ``group`` (``$share/<group>/...``)."""
    return f"$share/{group}/{topic_filter}" if group else topic_filter


def load_aois(settings: ProcessorSettings) -> AoiSet:
    if settings.aoi_file is None:
        return NO_AOIS
    try:
        return load_aoi_file(settings.aoi_file)
    except AoiFileError as error:
        raise SettingsError(f"invalid setting aoi_file: {error}") from None


def tune_gc() -> None:
    """Freeze what start-up allocated and set :data:`GC_THRESHOLDS` (once per process)."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass
class Group:
    """Messages handled together and stored in one journal commit."""

    deliveries: list[Delivery] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    records: list[Record] = field(default_factory=list)
    states: dict[str, bytes] = field(default_factory=dict)


class Processor:
    """One processor: all sessions under one topic prefix, one broker connection."""

    def __init__(self, settings: ProcessorSettings, *, sink: Sink | None = None) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.aois = load_aois(settings)
        self.journal = open_journal(settings)
        self.dispatcher = Dispatcher(
            SessionConfig(
                parameters=settings.detector_parameters,
                display_mm=(settings.default_display_width_mm, settings.default_display_height_mm),
                eye_distance_mm=settings.default_eye_distance_mm,
                alerts=settings.alerts,
                aois_for=self.aois.for_session,
                held=self._held if self.journal is not None else None,
            ),
            PayloadParser(
                self.topics, max_bytes=settings.max_payload_bytes, allowed_sessions=settings.sessions,
                shard=settings.shard,
            ),
            max_sessions=settings.max_sessions,
            idle_session_s=settings.idle_session_s,
            status_sessions=settings.status_sessions,
            connected=lambda: self.link.connected.is_set(),
        )
        self.sink = sink if sink is not None else open_sink(settings)
        self.feed = open_feed(settings, self.sink, self.journal)
        self.link = ProcessorLink(
            settings.mqtt,
            client_id=settings.mqtt.client_id or default_client_id("processor", settings.processor_id),
            subscriptions=[
                shared(self.topics.every_session(Channel.GAZE_BATCH), settings.shared_group),
                shared(self.topics.every_session(Channel.STATUS), settings.shared_group),
                shared(self.topics.every_session(Channel.EVENTS), settings.shared_group),
            ],
            will_topic=self.topics.processor_status(settings.processor_id),
            will_payload=last_will(settings.processor_id, settings.algorithm, serving(settings)).to_json(),
            prepare=self._pack_batch if self.journal is not None else None,
        )
        self.publisher = Publisher(self.link, self.topics, settings.processor_id)
        self._observers: list[Observer] = []
        self._shutdown = threading.Event()
        self._observer_errors = 0
        self._pending_keys: set[tuple[str, str, int]] = set()  # batches of the group not yet committed
        self._stuck: Group | None = None  # a group whose commit failed, tried again until it succeeds
        self._journal_error: str | None = None
        self._memory_position = 0  # without a journal: positions for the feed
        self._last_group = 0  # messages taken in the last group
        self.journal_commits = 0
        self.journal_commit_failures = 0
        self.custody_published = 0

    # ------------------------------------------------------------------ public

    def observe(self, callback: Observer) -> None:
        """Call ``callback(kind, message)`` for every message the processor publishes."""
        self._observers.append(callback)

    def request_shutdown(self) -> None:
        """Safe to call from a signal handler or another thread."""
        self._shutdown.set()
        self.link.deliveries.put(None)  # type: ignore[arg-type] - wakes the processing thread

    def run(self) -> None:
        """Run until :meth:`request_shutdown`; then end open fixations, flush, say ``offline``."""
        settings = self.settings
        log.info(
            "processor %r: prefix %r, %s, %d AOIs, journal %s, sink %s %s, broker %s:%d",
            settings.processor_id, settings.topic_prefix, settings.algorithm, len(self.aois),
            self.journal.path if self.journal is not None else "off",
            self.sink.kind, self.sink.target, settings.mqtt.host, settings.mqtt.port,
        )
        self.feed.start()
        self._resume()
        tune_gc()
        self.link.start()
        try:
            self._loop()
        finally:
            self._close()

    @property
    def serving(self) -> dict[str, Any]:
        """Which sessions this processor takes, for its status (agents read it for custody)."""
        return serving(self.settings)

    @property
    def sink_description(self) -> str:
        """Where the points go, for people: ``line-protocol files in <dir>`` or ``InfluxDB <url> ...``."""
        if self.sink.kind == "lineprotocol":
            return f"line-protocol files in {self.sink.target}"
        return f"InfluxDB {self.sink.target}"

    def current_status(self, state: str = "online") -> ProcessorStatus:
        sink = self.feed.report()
        counters = self.counters(sink_report=sink)
        journal = self.journal_report()
        return build_status(
            processor_id=self.settings.processor_id,
            algorithm=self.settings.algorithm,
            serving=self.serving,
            status_interval_s=self.settings.status_interval_s,
            counters=counters,
            sessions=self.dispatcher.session_summaries(),
            sink=sink,
            journal=journal,
            warnings=warnings_from(counters, sink, self.link.last_error, journal),
            state=state,
        )

    def journal_report(self) -> dict[str, Any] | None:
        if self.journal is None:
            return None
        try:
            report = self.journal.report()
        except Exception as error:  # a status must never fail on the journal
            report = {"path": str(self.journal.path), "error": str(error)}
        oldest = report.pop("oldest_utc_us", None)
        report["oldest_utc"] = iso_from_utc_us(oldest) if oldest else None
        stuck = self._stuck
        report["state"] = "ok" if stuck is None else ("full" if "full" in (self._journal_error or "") else "failing")
        report["last_error"] = self._journal_error if stuck is not None else None
        report["unacknowledged"] = len(stuck.deliveries) if stuck is not None else 0
        report["dropped_on_start"] = self.journal.dropped_on_start
        return report

    def counters(self, sink_report: Any = None) -> dict[str, int]:
        sink = sink_report or self.feed.report()
        counters = self.dispatcher.counters()
        counters.update(
            points_written=sink.points_written,
            points_rejected=sink.points_rejected,
            points_dropped=sink.points_dropped,
            records_behind=sink.records_behind,
            journal_commits=self.journal_commits,
            journal_commit_failures=self.journal_commit_failures,
            custody_published=self.custody_published,
            fixation_events_published=self.publisher.published[Channel.FIXATIONS.value],
            saccade_events_published=self.publisher.published[Channel.SACCADES.value],
            pursuit_events_published=self.publisher.published[Channel.PURSUITS.value],
            blink_events_published=self.publisher.published[Channel.BLINKS.value],
            aoi_events_published=self.publisher.published[Channel.AOI.value],
            alerts_published=self.publisher.published[Channel.ALERTS.value],
            publish_errors=self.link.publish_errors,
            acks_skipped=self.link.acks_skipped,
            reconnects=self.link.reconnects,
            observer_errors=self._observer_errors,
        )
        return counters

    def publish_status(self, state: str = "online"):  # -> paho.MQTTMessageInfo | None
        status = self.current_status(state)
        self._notify(STATUS_KIND, status)
        if not self.link.connected.is_set():
            return None
        return self.publisher.status(status)

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        interval = self.settings.status_interval_s
        retry_s = self.settings.journal.retry_s
        max_group = self.settings.journal.max_group_messages  # a group: one commit, one detector call per session
        now = time.monotonic()
        next_status = now
        next_housekeeping = now + HOUSEKEEPING_INTERVAL_S
        was_connected = False
        deliveries = self.link.deliveries
        while not self._shutdown.is_set():
            wait = max(0.0, min(next_status, next_housekeeping) - time.monotonic())
            if self._stuck is not None:
                # Take nothing new until the failed commit succeeds: the broker keeps the rest.
                if not self._shutdown.wait(min(wait, retry_s)):
                    self._commit(self._stuck)
            else:
                group = self._take(deliveries, timeout_s=min(wait, 1.0), most=max_group)
                if group:
                    self._handle(group)
            now = time.monotonic()
            connected = self.link.connected.is_set()
            if connected and not was_connected:
                next_status = now  # a fresh status right after (re)connecting
            was_connected = connected
            if now >= next_status:
                self.publish_status()
                next_status = now + interval
            if now >= next_housekeeping and self._stuck is None:
                self._housekeeping()
                next_housekeeping = now + HOUSEKEEPING_INTERVAL_S

    def _take(self, deliveries: queue.SimpleQueue, *, timeout_s: float, most: int) -> list[Delivery]:
        """The next message (waiting up to ``timeout_s``) and every one already queued behind it;
        under a backlog (the last group held :data:`BACKLOG_GROUP` messages or more) up to twice
        as many as the last group, waiting up to :data:`BACKLOG_LINGER_S` for those on their way."""
        try:
            first = deliveries.get(timeout=timeout_s)
        except queue.Empty:
            return []
        taken = [first] if first is not None else []
        self._take_queued(deliveries, taken, most)
        if self._last_group >= BACKLOG_GROUP and first is not None:
            # A backlog: a group pays the detector's and the commit's fixed costs once, so a few ms
            # waiting for the messages the broker is sending make every batch of it cheaper.
            wanted = min(most, 2 * self._last_group)
            deadline = time.monotonic() + BACKLOG_LINGER_S
            while len(taken) < wanted and (left := deadline - time.monotonic()) > 0:
                try:
                    delivery = deliveries.get(timeout=left)
                except queue.Empty:
                    break
                if delivery is None:  # shutdown
                    break
                taken.append(delivery)
                self._take_queued(deliveries, taken, most)
        self._last_group = len(taken)
        if self._shutdown.is_set():
            return []  # not handled, not acknowledged: the broker sends them again
        return taken

    @staticmethod
    def _take_queued(deliveries: queue.SimpleQueue, taken: list[Delivery], most: int) -> None:
        while len(taken) < most:
            try:
                delivery = deliveries.get_nowait()
            except queue.Empty:
                return
            if delivery is not None:
                taken.append(delivery)

    def _handle(self, deliveries: list[Delivery]) -> None:
        group = Group(deliveries=deliveries)
        received_us = utc_now_us()
        for delivery in deliveries:
            outcome = self.dispatcher.handle(delivery.topic, delivery.payload, retained=delivery.retained, defer=True)
            self._add(group, outcome, received_us, payload=delivery.payload, packed=delivery.prepared)
        # The group's batches of each session go through the detector in one call (the same
        # events as one call per batch, for a fraction of the fixed cost per call).
        self._add(group, self.dispatcher.settle(), received_us)
        self._commit(group)

    def _add(
        self, group: Group, outcome: Outcome, received_us: int, *, payload: bytes | None = None,
        packed: Packed | None = None,
    ) -> None:
        payloads = {id(batch): payload for batch in outcome.batches} if payload is not None else None
        packs = {id(batch): packed for batch in outcome.batches} if packed is not None else None
        for batch in outcome.batches:
            self._pending_keys.add((batch.session, batch.run or "", batch.batch_seq))
        group.records += records_of(outcome, received_utc_us=received_us, payloads=payloads, packed=packs)
        group.outcome.merge(outcome)

    def _pack_batch(self, topic: str, payload: bytes) -> Packed | None:
        """On paho's thread: a gaze batch packed for the journal (zstd and crc32 release the GIL,
        so this runs beside the processing thread), if it will be stored as it arrived."""
        if not topic.endswith(BATCH_TOPIC_END) or len(payload) > self.settings.max_payload_bytes:
            return None
        return pack(payload)

    def _held(self, session: str, run: str | None, batch_seq: int) -> bool:
        if (session, run or "", batch_seq) in self._pending_keys:
            return True
        assert self.journal is not None
        return self.journal.holds(session, run, batch_seq)

    def _commit(self, group: Group) -> bool:
        """Store the group durably, then acknowledge, publish, confirm custody, feed the sink."""
        if not group.states:
            group.states = {name: state.to_json() for name, state in self.dispatcher.snapshots().items()}
        if self.journal is not None and not group.records and not group.states:
            stored: list[Record] = []  # nothing to keep (bad input, say): no commit, no fsync
            before = self.journal.last_position
        elif self.journal is not None:
            before = self.journal.last_position
            try:
                stored = self.journal.append(group.records, group.states)
            except JournalError as error:
                self._commit_failed(group, error)
                return False
            self.journal_commits += 1
            if self._stuck is not None:
                log.warning("journal writable again: %d held messages stored and acknowledged", len(group.deliveries))
                self._stuck = None
                self._journal_error = None
            self._pending_keys.clear()
        else:
            before = self._memory_position
            stored = []
            for record in group.records:
                self._memory_position += 1
                stored.append(replace(record, position=self._memory_position))
        for delivery in group.deliveries:
            self.link.acknowledge(delivery)  # only now: stored durably, or handled (no journal)
        self.feed.offer(stored, after=before)
        self._emit(group.outcome)
        if self.journal is not None:
            self._confirm_custody(group.outcome)
        return True

    def _commit_failed(self, group: Group, error: JournalError) -> None:
        self.journal_commit_failures += 1
        first = self._stuck is None
        self._stuck = group
        self._journal_error = str(error)
        if first:
            log.error(
                "%s: %d messages are NOT acknowledged (the broker and the agents keep them); "
                "trying again every %.0f s", error, len(group.deliveries), self.settings.journal.retry_s,
            )
            self.publish_status()

    def _emit(self, outcome: Outcome) -> None:
        for channel, message in outcome.messages():
            self.publisher.event(channel, message)
            self._notify(channel.value, message)

    def _confirm_custody(self, outcome: Outcome) -> None:
        """One ``gaze/custody`` message per session and agent run with batches in this commit."""
        held: dict[tuple[str, str | None], list[int]] = {}
        for batch in outcome.batches + outcome.duplicates:
            held.setdefault((batch.session, batch.run), []).append(batch.batch_seq)
        if not held:
            return
        utc = iso_from_utc_us(utc_now_us())
        for (session, run), seqs in held.items():
            message = Custody(
                session=session, processor=self.settings.processor_id, run=run, batches=ranges(seqs), utc=utc
            )
            self.link.publish(self.topics.gaze_custody(session), message.to_json(), qos=1)
            self.custody_published += 1

    def _housekeeping(self) -> None:
        outcome = self.dispatcher.housekeeping()
        if outcome or self.dispatcher.has_changes():
            group = Group()
            self._add(group, outcome, utc_now_us())
            self._commit(group)
        if self.journal is not None:
            try:
                self.journal.enforce_retention()
            except Exception:  # retention must never stop processing
                log.exception("journal retention failed; trying again later")

    def _resume(self) -> None:
        """Take up the sessions the journal remembers; close what a crash left open."""
        if self.journal is None:
            return
        states = {}
        for name, text in self.journal.session_states().items():
            try:
                states[name] = SessionState.from_json(text)
            except (ValueError, TypeError) as error:
                log.error("journal: the saved state of session %r cannot be read (%s); it starts afresh", name, error)
        outcome = self.dispatcher.resume(states)
        if outcome:
            closed = sum(1 for e in outcome.fixation_events if e.interrupted) + len(outcome.alerts)
            log.warning("closed %d fixations and alerts left open by the previous processor (interrupted)", closed)
            group = Group()
            self._add(group, outcome, utc_now_us())
            if not self._commit(group):
                self._stuck = group

    def _notify(self, kind: str, message: WireModel) -> None:
        for observer in self._observers:
            try:
                observer(kind, message)
            except Exception:
                self._observer_errors += 1
                if self._observer_errors == 1:
                    log.exception("an observer failed (logged once; counted in observer_errors)")

    def _close(self) -> None:
        left = 0
        while True:
            try:
                if self.link.deliveries.get_nowait() is not None:
                    left += 1
            except queue.Empty:
                break
        if left:
            log.info("%d received messages not handled; the broker sends them again on the next start", left)
        if self._stuck is not None and not self._commit(self._stuck):
            log.error("%d messages could not be stored and were not acknowledged; the broker sends them again",
                      len(self._stuck.deliveries))
        else:
            group = Group()
            self._add(group, self.dispatcher.end_all("processor stopped"), utc_now_us())
            self._commit(group)
        self.feed.close(SHUTDOWN_SINK_TIMEOUT_S)
        if self.link.connected.is_set():
            info = self.publish_status(state="offline")
            if info is not None:
                self.link.wait_published(info, timeout_s=2.0)
        self.link.stop()
        counters = self.counters()
        if self.journal is not None:
            self.journal.close()
        log.info(
            "stopped: %d batches, %d samples, %d fixations, %d points written, %d journal records behind",
            counters["batches"], counters["samples"], counters["fixations"],
            counters["points_written"], counters["records_behind"],
        )

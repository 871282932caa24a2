"""The running agent: wires a tracker source to the pipeline and the outputs.

Threads, and what each one does:

- the source's thread (SDK callback, simulator, replay) calls :meth:`Agent.gaze`,
  which only appends the SDK's dictionary to a bounded deque: O(1), no lock,
  overflow counted;
- the pipeline thread (:meth:`Agent.run`) wakes for each batch and live message
  (not per sample), takes what the queue holds as columns
  (:mod:`gazewire.agent.pipeline.columns`), numbers the samples, combines the
  eyes, maps time to UTC, writes the recording, fills the batch - array
  operations, no per-sample objects - throttles the live view, runs commands,
  refreshes status;
- the batch sender sends the durable outbox in order;
- paho's network thread talks to the broker and only enqueues.

Every sample either reaches a batch in the outbox or is counted as dropped
(or, between recordings with ``keep_unrecorded = false``, as live only).
A failing disk stops neither: batches go out without the outbox (counted, and
published once acknowledged), the local files count what they miss, and both
resume when the disk takes writes again.

Recordings (:mod:`gazewire.agent.recordings`): ``start`` ends the batch, and
from the next sample every batch, live message and marker carries the new
recording's id, its rows go to its own CSV; ``stop`` ends the batch again.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.base import TrackerSource, TrackerState
from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.outputs.link import AgentLink
from gazewire.agent.outputs.outbox import Outbox, OutboxBatch, OutboxError
from gazewire.agent.recording_format import gaze_rows_csv
from gazewire.agent.recordings import AgentFacts, Recordings
from gazewire.agent.outputs.sender import BatchSender
from gazewire.agent.commands import handle_command
from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.clock import ClockOffset, measure_offset
from gazewire.agent.pipeline.columns import GazeColumns
from gazewire.agent.pipeline.combine import combine_columns, combine_eyes
from gazewire.agent.pipeline.gaps import SampleGaps
from gazewire.agent.pipeline.live import live_gaze_payload
from gazewire.agent.pipeline.throttle import LiveThrottle
from gazewire.agent.status import Counters, build_status, last_will
from gazewire.wire.messages import (
    AgentCounters,
    ClockInfo,
    DisplayArea,
    Marker,
    TrackerInfo,
)
import numpy as np

from gazewire.logs import RateLimitedLog
from gazewire.mqtt import default_client_id
from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us
from gazewire.wire.topics import Topics

log = logging.getLogger(__name__)

# Queue items are SDK dicts, (_MARKER, name, system_time_us), or (_BREAK, None, None)
# where the tracker's stream was interrupted on purpose (its timestamps jump there).
_MARKER = "marker"
_BREAK = "break"


@dataclass
class _Deadlines:
    """When the pipeline loop next has to do each periodic job (monotonic s)."""

    batch: float
    status: float
    clock: float
    housekeeping: float


class ServiceNotifier(Protocol):
    """What a service manager wants to hear (systemd's sd_notify, a Windows
    service's status). All methods are called from the pipeline thread."""

    def ready(self) -> None: ...

    def watchdog(self) -> None: ...

    def status(self, text: str) -> None: ...

    def stopping(self) -> None: ...


class Agent:
    """One agent: one tracker, one session, one broker connection."""

    def __init__(
        self, settings: AgentSettings, source: TrackerSource, notifier: ServiceNotifier | None = None
    ) -> None:
        self.notifier = notifier
        self.settings = settings
        self.session = settings.session
        self.source = source
        self.topics = Topics(settings.topic_prefix)
        # built (and validated) once: the session is fixed for the agent's life
        self._batch_topic = self.topics.gaze_batch(self.session)
        self._live_topic = self.topics.gaze(self.session)
        self.run_id = uuid.uuid4().hex[:12]
        self.counters = Counters()
        # The SDK callback's queue: deque.append and popleft are atomic, so the callback takes no lock.
        self._queue: deque[Any] = deque()
        self._queue_size = settings.queue_size

        self.outbox = Outbox(
            settings.outbox_path,
            max_bytes=int(settings.outbox_max_mb * 1024 * 1024),
            max_age_s=settings.outbox_max_age_h * 3600,
            synchronous=settings.outbox_sync,
        )
        self._counters_unknown = False
        try:
            self.next_seq = self.outbox.counter("next_seq")
            self.next_batch_seq = self.outbox.counter("next_batch_seq")
        except OutboxError as error:  # the outbox's file cannot even be read
            log.error("%s: seq and batch_seq start at 0 (a new stream for the processor)", error)
            self.next_seq = self.next_batch_seq = 0
            self._counters_unknown = True
        self.outbox_error: str | None = self.outbox.error
        if self.outbox_error:
            log.error("%s; sending batches without the durable outbox until it opens", self.outbox_error)
        self._carried_over: tuple[str, int] | None = self._take_over_backlog()
        self.recordings = Recordings(
            Path(settings.data_dir).expanduser(), self.session,
            write_files=settings.record, keep_unrecorded=settings.keep_unrecorded,
            facts=self._facts, losses=self._loss_counters,
        )
        self.recordings.recover()

        self.link = AgentLink(
            settings.mqtt,
            client_id=settings.mqtt.client_id or default_client_id("agent", self.session),
            will_topic=self.topics.status(self.session),
            will_payload=last_will(self.session, self.run_id).to_json(),
            command_topic=self.topics.cmd(self.session),
            max_inflight=settings.inflight_window + 10,
            custody_topics=(self.topics.gaze_custody(self.session), self.topics.every_processor_status()),
        )
        self.sender = BatchSender(
            self.outbox,
            self.link,
            window=settings.inflight_window,
            backlog_batches_per_s=settings.backlog_batches_per_s,
            session=self.session,
            custody_timeout_s=settings.custody_timeout_s,
            custody_fallback_s=settings.custody_fallback_s,
        )

        self.tracker: TrackerInfo | None = None
        self.display_area: DisplayArea | None = None
        self._tracker_state: TrackerState | None = None
        self._tracker_detail: str | None = None
        self._stopped_by = "waiting for a start command (autostart is off)"
        self._writer = self.recordings.writer  # the CSV the rows go to now (None: none)
        self.streaming = False
        self.clock: ClockOffset | None = None
        self._clock_due = True
        self._status_due = True
        self._builder = BatchBuilder(self.session, device="unknown", run=self.run_id)
        self._gaps = SampleGaps()
        # the live view's candidate: (seq, utc_us, the SDK's sample, recording)
        self._throttle: LiveThrottle[tuple[int, int, GazeDict, str | None]] = LiveThrottle(settings.publish_hz)
        self._live_seq = 0
        self.loop_errors = 0
        self._refusals = RateLimitedLog(log, interval_s=60.0)
        self._disk_state: tuple[object, ...] = ()
        self._wake = threading.Event()
        self._shutdown = threading.Event()
        self._finished = threading.Event()
        self.link.when_command(self._wake.set)
        self.link.when_connected(self._on_connected)

    # ================================================================== TrackerEvents (source thread)

    def gaze(self, sample: GazeDict) -> None:
        if len(self._queue) < self._queue_size:
            self._queue.append(sample)
        else:
            self.counters.samples_dropped_queue += 1

    def tracker_state(self, state: TrackerState, detail: str | None = None) -> None:
        log.info("tracker %s%s", state.value, f": {detail}" if detail else "")
        self._stream_break()
        self._tracker_state, self._tracker_detail = state, detail
        if state is TrackerState.TRACKING:
            self._clock_due = True
        if state is TrackerState.FINISHED:
            self._finished.set()
        self._status_due = True
        self._wake.set()

    def tracker_info(self, info: TrackerInfo, display_area: DisplayArea | None) -> None:
        self.tracker, self.display_area = info, display_area
        self._stream_break()  # the rate may have changed
        self._builder.device = info.serial or "unknown"
        self._clock_due = True
        self._status_due = True
        self._wake.set()

    def _stream_break(self) -> None:
        if len(self._queue) < self._queue_size:
            self._queue.append((_BREAK, None, None))
        # else: at worst one hole across the break is counted

    def marker(self, name: str, system_time_us: int) -> None:
        if len(self._queue) < self._queue_size:
            self._queue.append((_MARKER, name, system_time_us))
        else:
            log.error("sample queue full: marker %r lost", name)

    # ================================================================== Controller (pipeline thread)

    @property
    def state(self) -> str:
        if not self.streaming:
            return "stopped"
        if self._tracker_state is None:
            return "online"
        if self._tracker_state is TrackerState.FINISHED:
            return "stopped"
        return self._tracker_state.value

    @property
    def reason(self) -> str | None:
        """Why the agent is in its state, made from the state now (never a
        leftover of an earlier one): None while all is well."""
        state = self.state
        if state in (TrackerState.WAITING.value, TrackerState.LOST.value):
            return self._tracker_detail
        if state == "stopped":
            if self._tracker_state is TrackerState.FINISHED:
                return "the source finished (end of the replay, or the sample limit)"
            return self._stopped_by
        return None

    def start_streaming(self) -> None:
        if not self.streaming:
            log.info("starting %s tracker", self.source.name)
            self.streaming = True
            self._tracker_state, self._tracker_detail = None, None
            self._stream_break()
            self.source.start(self)
            self._status_due = True

    def start_recording(
        self, name: str | None = None, participant: str | None = None, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """``start``: a new recording from the next sample on (the tracker stream too, if
        it was not running). Raises CommandRefused while a recording runs."""
        self.recordings.check_not_running()
        if not self.streaming:
            self.start_streaming()
        self._recording_boundary()
        recording = self.recordings.start(
            name=name, participant=participant, metadata=metadata, utc_us=utc_now_us()
        )
        self._recording_changed()
        return recording.result()

    def stop_recording(self, recording: str | None = None) -> dict[str, Any]:
        """``stop``: end the running recording (``recording``, if given, must be it); the
        stream goes on. Raises CommandRefused when it cannot."""
        self.recordings.check_running(recording)
        self._recording_boundary()
        running, ended = self.recordings.stop(recording, utc_us=utc_now_us())
        self._recording_changed()
        return {
            **running.result(), "stopped_utc": iso_from_utc_us(ended.ended_utc_us), "samples": running.samples,
        }

    def annotate_recording(self, metadata: dict[str, str], recording: str | None = None) -> dict[str, Any]:
        running = self.recordings.annotate(metadata, recording)
        self._status_due = True
        return {"recording": running.id, "metadata": dict(running.metadata)}

    def _recording_boundary(self) -> None:
        """Samples already queued belong before a start or stop: take them, end the batch."""
        self._take_samples()
        self._flush_batch()
        writer = self._writer
        if writer is not None:
            writer.flush()

    def _recording_changed(self) -> None:
        running = self.recordings.running
        self._builder.recording = running.id if running is not None else None
        self._writer = self.recordings.writer
        self._check_disks()
        self._status_due = True

    def add_marker(self, name: str, utc_ns: int | None, source: str = "command") -> Marker:
        # Samples already queued belong before the marker in the recording.
        self._take_samples()
        return self._add_marker(name, utc_ns, source)

    def _add_marker(self, name: str, utc_ns: int | None, source: str) -> Marker:
        if utc_ns is None:
            utc_ns = time.time_ns()
        system_time_us = self.clock.to_system_us(utc_ns // 1000) if self.clock else None
        running = self.recordings.running
        marker = Marker(
            session=self.session,
            device=self.tracker.serial if self.tracker else None,
            name=name,
            utc=iso_from_utc_us(utc_ns // 1000),
            utc_ns=utc_ns,
            system_time_us=system_time_us,
            source=source,  # type: ignore[arg-type]
            recording=running.id if running is not None else None,
        )
        writer = self._writer
        if writer is not None:
            writer.write_marker(name, utc_ns // 1000, system_time_us)
            writer.flush()
            self._check_disks()
        if running is not None:
            running.markers += 1
        self.link.publish(self.topics.events(self.session), marker.to_json(), qos=1)
        self.counters.markers += 1
        log.info("marker %r at %s%s", name, marker.utc, f" (recording {running.id})" if running else "")
        return marker

    def ping_result(self) -> dict[str, Any]:
        return {
            "agent_version": _version(),
            "run": self.run_id,
            "samples_in": self.counters.samples_in,
            "outbox_depth": self.outbox.depth,
            "clock_offset_us": self.clock.offset_us if self.clock else None,
            "tracker": self.tracker.serial if self.tracker else None,
            "recording": self.recordings.running.id if self.recordings.running is not None else None,
        }

    def _facts(self) -> AgentFacts:
        return AgentFacts(
            version=_version(), run=self.run_id, host=socket.gethostname(), tracker=self.tracker,
            display_area=self.display_area, clock_offset_us=self.clock.offset_us if self.clock else None,
        )

    def _loss_counters(self) -> dict[str, int]:
        """Every loss counter the agent keeps (a recording's sidecar has what they
        counted while it ran)."""
        c = self.counters
        return {
            "samples_dropped_queue": c.samples_dropped_queue,
            "samples_malformed": c.samples_malformed,
            "samples_dropped_sdk": c.samples_dropped_sdk,
            "sdk_buffer_overflows": self.source.buffer_overflows,
            "tracker_connection_losses": self.source.connection_losses,
            "samples_dropped_outbox": self.outbox.evicted_samples,
            "samples_unsaved": c.samples_unsaved,
            "samples_dropped_unsaved": self.sender.counters.samples_dropped_unsaved,
        }

    # ================================================================== lifecycle

    def request_shutdown(self) -> None:
        """Safe to call from a signal handler or another thread."""
        self._shutdown.set()
        self._wake.set()

    def run(self) -> None:
        """Run until :meth:`request_shutdown`; then flush and say ``offline``."""
        log.info(
            "agent %s: session %r, source %s, broker %s:%d, outbox %d batches waiting",
            self.run_id, self.session, self.source.name, self.settings.mqtt.host,
            self.settings.mqtt.port, self.outbox.depth,
        )
        self.link.start()
        self.sender.start()
        if self.settings.autostart:
            self.start_streaming()
        if self.notifier is not None:
            self.notifier.ready()
        try:
            self._loop()
        finally:
            self._close()

    def _loop(self) -> None:
        interval = 1.0 / self.settings.publish_hz
        now = time.monotonic()
        due = _Deadlines(batch=now + interval, status=now, clock=now, housekeeping=now + 1.0)
        while not self._shutdown.is_set():
            wake_at = self._next_wake(due)
            self._wake.wait(min(1.0, max(0.0, wake_at - time.monotonic())))  # keeps the watchdog fed
            self._wake.clear()
            try:
                self._step(due, interval)
            except Exception:  # a bug must not end the recording: log it, count it, go on
                self.loop_errors += 1
                log.exception("agent loop failed (%d times so far); continuing", self.loop_errors)
                try:  # say so, even if the failing job comes before the status in every step
                    self.publish_status()
                except Exception:
                    log.exception("publishing the status failed")
                self._shutdown.wait(0.1)

    def _next_wake(self, due: _Deadlines) -> float:
        """When the loop has work next: the next batch, or a live message that
        may go out. A live message waits only while the link is up (it cannot go
        out otherwise, and waking for it would spin); a reconnection wakes the loop."""
        wake_at = due.batch
        if self.link.connected.is_set():
            pending_live = self._throttle.next_allowed_s()
            if pending_live is not None:
                wake_at = min(wake_at, pending_live)
        return wake_at

    def _step(self, due: _Deadlines, interval: float) -> None:
        if self.notifier is not None:
            self.notifier.watchdog()
        self._run_commands()
        now = time.monotonic()
        if self._clock_due or now >= due.clock:
            self._measure_clock()
            due.clock = now + self.settings.clock_resync_s
        self._take_samples()
        now = time.monotonic()
        if now >= due.batch:
            self._flush_batch()
            # Next batch one interval from now (not on a fixed grid): the live message taken
            # below at ``now`` may next go at now + interval too, so one wake serves both. On
            # a grid the live message came due a fraction of a millisecond after each batch,
            # and the loop woke twice per interval.
            due.batch = now + interval
        self._publish_live(now)
        if now >= due.housekeeping:
            self._housekeeping()
            due.housekeeping = now + 1.0
        if self._status_due or now >= due.status:
            self.publish_status()
            due.status = now + self.settings.status_interval_s
            if self.notifier is not None:
                self.notifier.status(self.status_line())
        if self._finished.is_set() and self.settings.exit_when_finished:
            self._take_samples()
            self._flush_batch()
            log.info("source finished; shutting down")
            self._shutdown.set()

    # ================================================================== the per-sample path

    def _take_samples(self) -> None:
        """Take everything queued: runs of samples, and the markers and stream breaks
        between them, in their order."""
        take = self._queue.popleft
        items = [take() for _ in range(len(self._queue))]
        start = 0
        for index, item in enumerate(items):
            if item.__class__ is tuple:
                if index > start:
                    self._take_run(items[start:index])
                self._take_control(item)
                start = index + 1
        if start < len(items):
            self._take_run(items[start:] if start else items)

    def _take_control(self, item: tuple[str, Any, Any]) -> None:
        kind, name, system_time_us = item
        if kind is _BREAK:
            self._gaps.restart()
            self._gaps.set_rate(self.tracker.frequency_hz if self.tracker else None)
        else:
            offset = self.clock.offset_us if self.clock else 0
            self._add_marker(name, (system_time_us + offset) * 1000, source="local")

    def _take_run(self, samples: list[GazeDict]) -> None:
        """A run of samples, as columns: numbered, combined, in UTC, recorded and batched."""
        try:
            gaze = GazeColumns.from_samples(samples)
        except (KeyError, TypeError, ValueError, IndexError):
            samples = self._without_malformed(samples)
            if not samples:
                return
            try:
                gaze = GazeColumns.from_samples(samples)
            except (KeyError, TypeError, ValueError, IndexError):  # each is fine alone: take them one by one
                for sample in samples:
                    self._take_run([sample])
                return
        counters, throttle = self.counters, self._throttle
        count = len(gaze)
        combined = combine_columns(gaze.left, gaze.right)
        valid = np.flatnonzero(combined.eye)
        invalid = count - len(valid)
        counters.samples_in += count
        counters.samples_invalid += invalid
        missing = self._gaps.missing_in(gaze.device_time_us)
        utc_us = gaze.system_time_us + (self.clock.offset_us if self.clock else 0)
        running = self.recordings.running
        first_seq = self.next_seq
        latest = None
        if len(valid):
            last = int(valid[-1])
            latest = (first_seq + last, int(utc_us[last]), samples[last], running.id if running is not None else None)
        if running is None and not self.settings.keep_unrecorded:
            # between recordings, kept for the live view only: no seq, no batch, no row
            counters.samples_live_only += count
            counters.samples_dropped_sdk += int(missing.sum())
            if latest is not None:
                latest = (first_seq, *latest[1:])  # the seq the next kept sample will have
            throttle.offer_run(count, latest)
            return
        self.next_seq = first_seq + count
        for index in np.flatnonzero(missing).tolist():
            holes = int(missing[index])
            counters.samples_dropped_sdk += holes
            self._builder.note_sdk_gap(first_seq + index, holes)
        writer = self._writer
        if writer is not None:
            writer.write_rows(gaze_rows_csv(first_seq, utc_us, gaze, combined), count)
        if running is not None:
            running.note_samples(first_seq, count, invalid)
        self._builder.add_columns(first_seq, utc_us, gaze, combined)
        throttle.offer_run(count, latest)

    def _without_malformed(self, samples: list[GazeDict]) -> list[GazeDict]:
        """The samples that are what the SDK documents; the others are counted and dropped."""
        good = []
        for sample in samples:
            try:
                GazeColumns.from_samples([sample])
            except (KeyError, TypeError, ValueError, IndexError) as error:
                self.counters.samples_malformed += 1
                if self.counters.samples_malformed == 1:
                    log.error("malformed sample from the %s source dropped (counted): %r", self.source.name, error)
                continue
            good.append(sample)
        return good

    def _flush_batch(self) -> None:
        if len(self._builder) == 0:
            return
        batch_seq = self.next_batch_seq
        payload, count = self._builder.build(
            batch_seq=batch_seq,
            clock_offset_us=self.clock.offset_us if self.clock else 0,
            sample_rate_hz=self.tracker.frequency_hz if self.tracker else None,
        )
        if self._writer is not None:
            self._writer.flush()
        batch = OutboxBatch(batch_seq, self._batch_topic, payload, count)
        self.next_batch_seq = batch_seq + 1
        try:
            evictions = self.outbox.append(batch, next_seq=self.next_seq)
        except OutboxError as error:
            # No disk for the outbox: send the batch anyway (paho keeps it in memory
            # until acknowledged), but it no longer survives a restart: say so.
            self.counters.batches_unsaved += 1
            self.counters.samples_unsaved += count
            if self.outbox_error != str(error):
                self.outbox_error = str(error)
                log.error("%s; sending batches without the durable outbox", error)
            self.sender.send_unsaved(batch)  # counted as published on its PUBACK
            self._check_disks()
            return
        if self.outbox_error is not None:
            log.warning(
                "outbox writable again; %d batches (%d samples) were sent without it",
                self.counters.batches_unsaved, self.counters.samples_unsaved,
            )
            self.outbox_error = None
        self._note_evictions(evictions)
        self._check_disks()
        self.sender.wake()

    def _take_over_backlog(self) -> tuple[str, int] | None:
        """Say what an earlier run left in the outbox, and for which broker:
        it goes to the broker configured now. Returns (text, its last batch_seq)."""
        broker = f"{self.settings.mqtt.host}:{self.settings.mqtt.port}"
        try:
            backlog = self.outbox.backlog()
            before = self.outbox.note("broker")
            if before != broker and self.outbox.is_open:
                self.outbox.set_note("broker", broker)
        except OutboxError as error:
            log.warning("cannot read what the outbox holds: %s", error)
            return None
        if backlog is None:
            return None
        text = (
            f"{backlog.batches} batches ({backlog.samples} samples) carried over from an earlier run, written "
            f"{iso_from_utc_us(int(backlog.oldest_s * 1e6))} to {iso_from_utc_us(int(backlog.newest_s * 1e6))} "
            f"while the agent sent to broker {before or '(not recorded: an older agent)'}"
        )
        if before != broker:
            text += f"; sending them to {broker} now"
        log.warning("outbox: %s", text)
        return text, backlog.last_batch_seq

    def _housekeeping(self) -> None:
        """Once a second: expire old batches, retry a failed disk, count acknowledgements."""
        if self._carried_over is not None:
            oldest = self.outbox.oldest_batch_seq()
            if oldest is None or oldest > self._carried_over[1]:
                log.info("the batches carried over from an earlier run are sent (or evicted, and counted)")
                self._carried_over = None
                self._status_due = True
        self._note_evictions(self.outbox.evict_expired())
        if not self.outbox.is_open and self.outbox.reopen():
            self._outbox_opened()
        writer = self._writer
        if writer is not None and writer.error is not None:
            writer.resume()
        self.recordings.checkpoint()
        self._check_disks()

    def _outbox_opened(self) -> None:
        """The outbox could not be opened at start and now can: take it up."""
        log.warning("outbox %s opened; batches are durable again", self.outbox.path)
        stored_seq, stored_batch_seq = self.outbox.counter("next_seq"), self.outbox.counter("next_batch_seq")
        if stored_batch_seq > self.next_batch_seq or stored_seq > self.next_seq:
            # Counters read from a stale copy, or not at all: never reuse a stored number.
            log.warning(
                "continuing at seq %d, batch_seq %d (the outbox had counted further)",
                max(stored_seq, self.next_seq), max(stored_batch_seq, self.next_batch_seq),
            )
            self.next_seq = max(stored_seq, self.next_seq)
            self.next_batch_seq = max(stored_batch_seq, self.next_batch_seq)
        self._counters_unknown = False
        self._carried_over = self._take_over_backlog()  # all it holds is from earlier runs
        self.sender.wake()

    def _check_disks(self) -> None:
        """A status refresh whenever the outbox or the local files fail or recover."""
        writer = self._writer
        state = (self.outbox_error, writer.error if writer is not None else None, self.recordings.sidecar_error)
        if state != self._disk_state:
            self._disk_state = state
            self._status_due = True

    def _publish_live(self, now: float) -> None:
        if not self.link.connected.is_set():
            return
        taken = self._throttle.take(now)
        if taken is None:
            return
        (seq, utc_us, sample, recording), count = taken
        payload = live_gaze_payload(
            session=self.session, device=self._builder.device, live_seq=self._live_seq,
            sample_seq=seq, utc_us=utc_us, sample=sample, gaze=combine_eyes(sample), samples=count,
            recording=recording,
        )
        self.link.publish(self._live_topic, payload, qos=0)
        self._live_seq += 1
        self.counters.live_published += 1

    # ================================================================== status, clock, commands

    def _run_commands(self) -> None:
        while True:
            try:
                received_utc_ns, payload = self.link.commands.get_nowait()
            except queue.Empty:
                return
            reply = handle_command(payload, self, received_utc_ns)
            if not reply.ok:
                self.counters.commands_refused += 1
                self._refusals.log(
                    logging.WARNING, "command", "command %s refused: %s (%d so far)",
                    reply.command or "?", reply.error, self.counters.commands_refused,
                )
            self.link.publish(self.topics.cmd_reply(self.session), reply.to_json(), qos=1)

    def _measure_clock(self) -> None:
        self._clock_due = False
        try:
            self.clock = measure_offset(self.source.system_time_us, probes=self.settings.clock_probes)
        except Exception as error:  # a broken SDK clock must not stop the agent
            log.error("clock offset measurement failed: %s", error)
            return
        log.debug("clock offset %d µs (round trip %d µs)", self.clock.offset_us, self.clock.round_trip_us)

    def _note_evictions(self, evictions: list) -> None:
        if evictions:
            self._status_due = True

    def status_counters(self) -> AgentCounters:
        c = self.counters
        return AgentCounters(
            samples_in=c.samples_in,
            samples_invalid=c.samples_invalid,
            samples_published=self.sender.counters.samples_published,
            samples_dropped_queue=c.samples_dropped_queue,
            samples_dropped_outbox=self.outbox.evicted_samples,
            samples_malformed=c.samples_malformed,
            live_published=c.live_published,
            batches_published=self.sender.counters.batches_published,
            outbox_depth=self.outbox.depth,
            outbox_evicted=self.outbox.evicted_batches,
            batches_confirmed=self.sender.counters.batches_confirmed,
            batches_resent=self.sender.counters.batches_resent,
            reconnects=self.link.reconnects,
            markers=c.markers,
            samples_unsaved=c.samples_unsaved,
            samples_dropped_unsaved=self.sender.counters.samples_dropped_unsaved,
            samples_not_recorded=self.recordings.samples_not_recorded(),
            samples_dropped_sdk=c.samples_dropped_sdk,
            sdk_buffer_overflows=self.source.buffer_overflows,
            tracker_connection_losses=self.source.connection_losses,
            commands_refused=c.commands_refused,
            samples_live_only=c.samples_live_only,
        )

    def warnings(self) -> list[str]:
        found = []
        if self.counters.samples_dropped_queue:
            found.append(f"{self.counters.samples_dropped_queue} samples dropped: sample queue overflowed")
        if self.outbox.evicted_samples:
            found.append(
                f"{self.outbox.evicted_samples} samples dropped: outbox full, "
                f"{self.outbox.evicted_batches} oldest batches evicted"
            )
        if self.counters.samples_malformed:
            found.append(f"{self.counters.samples_malformed} malformed samples from the source dropped")
        if self.counters.samples_dropped_sdk or self.source.buffer_overflows:
            found.append(
                f"about {self.counters.samples_dropped_sdk} samples lost inside the tracker's SDK "
                f"({self.source.buffer_overflows} stream buffer overflows reported): see sdk_gaps in the batches"
            )
        if self.source.connection_losses:
            found.append(f"tracker connection lost {self.source.connection_losses} times")
        if self.sender.counters.last_refusal:
            found.append(
                f"{self.sender.counters.batches_refused} batch sends refused by the broker (kept, retried); "
                f"last: {self.sender.counters.last_refusal}"
            )
        if self.sender.processor_lost:
            found.append(
                f"custody: broker - no processor with a journal online for {self.settings.custody_fallback_s:.0f} s; "
                "batches leave the outbox on the broker's PUBACK"
            )
        found.extend(self._disk_warnings())
        if self.loop_errors:
            found.append(f"{self.loop_errors} internal errors in the agent loop (see its log)")
        found.extend(self.source.warnings())
        if self._carried_over is not None:
            found.append(self._carried_over[0])
        found.extend(self.recordings.warnings())
        if self.clock is None:
            found.append("clock offset not measured yet")
        return found

    def _disk_warnings(self) -> list[str]:
        found = []
        c = self.counters
        if self.outbox_error:
            found.append(
                f"outbox unwritable ({self.outbox_error}): {c.batches_unsaved} batches ({c.samples_unsaved} "
                "samples) sent without durability so far; they are lost if the agent stops before the broker "
                "acknowledges them"
            )
        elif c.samples_unsaved:
            found.append(f"{c.samples_unsaved} samples were sent without the durable outbox while its disk failed")
        dropped_unsaved = self.sender.counters.samples_dropped_unsaved
        if dropped_unsaved:
            found.append(
                f"{dropped_unsaved} samples dropped: sent without the outbox, and not acknowledged "
                "(refused by the broker, or not before the agent stopped)"
            )
        if self._counters_unknown:
            found.append("seq and batch_seq restarted at 0: the outbox's counters could not be read")
        writer, recordings = self._writer, self.recordings
        lost, markers_lost = recordings.samples_not_recorded(), recordings.markers_not_recorded()
        if writer is not None and writer.error:
            found.append(
                f"local recording stopped ({writer.error}): {lost} samples not recorded "
                f"so far; retrying every {writer.retry_s:g} s"
            )
        elif lost or markers_lost:
            found.append(
                f"local recording misses {lost} samples and {markers_lost} markers "
                f"(its disk failed: {recordings.last_disk_error()})"
            )
        return found

    def current_status(self, state: str | None = None, reason: str | None = None):
        clock = None
        if self.clock is not None:
            clock = ClockInfo(
                offset_us=self.clock.offset_us,
                round_trip_us=self.clock.round_trip_us,
                measured_utc=iso_from_utc_us(self.clock.measured_utc_us),
            )
        return build_status(
            session=self.session,
            state=state or self.state,
            run=self.run_id,
            reason=reason if reason is not None else self.reason,
            publish_hz=self.settings.publish_hz,
            tracker=self.tracker,
            display_area=self.display_area,
            clock=clock,
            counters=self.status_counters(),
            warnings=self.warnings(),
            recording=self.recordings.running.info() if self.recordings.running is not None else None,
            custody=self.sender.custody,
            status_interval_s=self.settings.status_interval_s,
        )

    def publish_status(self, state: str | None = None, reason: str | None = None):
        self._status_due = False
        if not self.link.connected.is_set():
            return None
        status = self.current_status(state, reason)
        return self.link.publish_status(self.topics.status(self.session), status)

    def _on_connected(self) -> None:
        # paho's thread: ask the pipeline thread to publish a fresh status.
        self._status_due = True
        self._wake.set()

    def _settle_unsaved(self, timeout_s: float = 5.0) -> None:
        """Batches that bypassed an unwritable outbox live only in memory: wait
        (``timeout_s`` in all, while connected) for their acknowledgements, count
        the rest as dropped, and say loudly what is lost."""
        batches, lost = self.sender.settle_unsaved(timeout_s if self.link.connected.is_set() else 0.0)
        if lost:
            log.error(
                "%d batches (%d samples) sent without the outbox were not acknowledged and are lost "
                "from the stream (the local recording has them if its disk works)",
                batches, lost,
            )

    def status_line(self) -> str:
        """One line for a service manager: state, broker link, counters."""
        link = "connected" if self.link.connected.is_set() else "broker unreachable"
        c = self.status_counters()
        dropped = c.samples_dropped_queue + c.samples_dropped_outbox + c.samples_dropped_unsaved
        running = self.recordings.running
        recording = f", recording {running.describe()}" if running is not None else ""
        return (
            f"{self.state}{recording}, {link}; {c.samples_in} samples in, {c.samples_published} published, "
            f"{dropped} dropped, outbox {c.outbox_depth}"
        )

    def _close(self) -> None:
        if self.notifier is not None:
            self.notifier.stopping()
        log.info("shutting down: flushing %d queued samples", len(self._queue))
        if self.streaming:
            try:
                self.source.stop()
            except Exception:
                log.exception("stopping the tracker source failed")
        self._take_samples()
        self._flush_batch()
        connected = self.link.connected.is_set()
        if connected and not self.sender.drain(timeout_s=5.0):
            log.warning("%d batches still unacknowledged; they stay in the outbox for the next start", self.outbox.depth)
        elif not connected:
            log.warning("broker unreachable at shutdown: %d batches stay in the outbox", self.outbox.depth)
        self._settle_unsaved()
        if self.recordings.running is not None:
            self.recordings.interrupt(
                f"interrupted: the agent was shut down at {iso_from_utc_us(utc_now_us())} while recording "
                "(a service stop or restart); its next run does not resume it", utc_now_us(),
            )
            self._builder.recording, self._writer = None, None
        self.recordings.close()
        if self.link.connected.is_set():
            info = self.publish_status(state="offline", reason="agent stopped")
            if info is not None:
                self.link.wait_published(info, timeout_s=2.0)
        self.sender.stop()
        self.link.stop()
        self.outbox.close()
        c = self.status_counters()
        log.info(
            "stopped: %d samples in, %d published, %d dropped, %d not recorded",
            c.samples_in, c.samples_published,
            c.samples_dropped_queue + c.samples_dropped_outbox + c.samples_dropped_unsaved,
            c.samples_not_recorded,
        )


def _version() -> str:
    from gazewire import __version__

    return __version__

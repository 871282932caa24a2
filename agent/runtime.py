"""The running agent: wires a tracker source to the pipeline and the outputs.

Threads, and what each one does:

- the source's thread (SDK callback, simulator, replay) calls :meth:`Agent.gaze`,
  which only enqueues: O(1), overflow counted;
- the pipeline thread (:meth:`Agent.run`) takes samples from the queue, numbers
  them, combines the eyes, maps time to UTC, writes the recording, fills the
  batch, throttles the live view, runs commands, refreshes status;
- the batch sender sends the durable outbox in order;
- paho's network thread talks to the broker and only enqueues.

Every sample either reaches a batch in the outbox or is counted as dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.base import TrackerSource, TrackerState
from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.outputs.link import AgentLink
from gazewire.agent.outputs.outbox import Outbox, OutboxBatch, OutboxError
from gazewire.agent.outputs.recording import Recording
from gazewire.agent.recording_format import gaze_row, recording_path
from gazewire.agent.outputs.sender import BatchSender
from gazewire.agent.commands import handle_command
from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.clock import ClockOffset, measure_offset
from gazewire.agent.pipeline.combine import CombinedGaze, combine_eyes
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
from gazewire.mqtt import default_client_id
from gazewire.wire.timeutil import iso_from_utc_us
from gazewire.wire.topics import Topics

log = logging.getLogger(__name__)

_MARKER = "marker"  # queue items are SDK dicts or (_MARKER, name, system_time_us)


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
        self.run_id = uuid.uuid4().hex[:12]
        self.counters = Counters()
        self.samples: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_size)

        self.outbox = Outbox(
            settings.outbox_path,
            max_bytes=int(settings.outbox_max_mb * 1024 * 1024),
            max_age_s=settings.outbox_max_age_h * 3600,
            synchronous=settings.outbox_sync,
        )
        self.next_seq = self.outbox.counter("next_seq")
        self.next_batch_seq = self.outbox.counter("next_batch_seq")
        self.recording = (
            Recording(recording_path(settings.data_dir, self.session)) if settings.record else None
        )

        self.link = AgentLink(
            settings.mqtt,
            client_id=settings.mqtt.client_id or default_client_id("agent", self.session),
            will_topic=self.topics.status(self.session),
            will_payload=last_will(self.session, self.run_id).to_json(),
            command_topic=self.topics.cmd(self.session),
            max_inflight=settings.inflight_window + 10,
        )
        self.sender = BatchSender(
            self.outbox,
            self.link,
            window=settings.inflight_window,
            backlog_batches_per_s=settings.backlog_batches_per_s,
        )

        self.tracker: TrackerInfo | None = None
        self.display_area: DisplayArea | None = None
        self._tracker_state: TrackerState | None = None
        self._tracker_detail: str | None = None
        self.streaming = False
        self.clock: ClockOffset | None = None
        self._clock_due = True
        self._status_due = True
        self._builder = BatchBuilder(self.session, device="unknown", run=self.run_id)
        self._throttle: LiveThrottle[tuple[int, int, GazeDict, CombinedGaze]] = LiveThrottle(settings.publish_hz)
        self._live_seq = 0
        self.loop_errors = 0
        self.recording_error: str | None = None
        self.outbox_error: str | None = None
        self._unsaved: list[tuple[Any, int]] = []  # batches sent without the outbox, not yet acknowledged
        self._wake = threading.Event()
        self._shutdown = threading.Event()
        self._finished = threading.Event()
        self.link.when_command(self._wake.set)
        self.link.when_connected(self._on_connected)

    # ================================================================== TrackerEvents (source thread)

    def gaze(self, sample: GazeDict) -> None:
        try:
            self.samples.put_nowait(sample)
        except queue.Full:
            self.counters.samples_dropped_queue += 1

    def tracker_state(self, state: TrackerState, detail: str | None = None) -> None:
        log.info("tracker %s%s", state.value, f": {detail}" if detail else "")
        self._tracker_state, self._tracker_detail = state, detail
        if state is TrackerState.TRACKING:
            self._clock_due = True
        if state is TrackerState.FINISHED:
            self._finished.set()
        self._status_due = True
        self._wake.set()

    def tracker_info(self, info: TrackerInfo, display_area: DisplayArea | None) -> None:
        self.tracker, self.display_area = info, display_area
        self._builder.device = info.serial or "unknown"
        self._clock_due = True
        self._status_due = True
        self._wake.set()

    def marker(self, name: str, system_time_us: int) -> None:
        try:
            self.samples.put_nowait((_MARKER, name, system_time_us))
        except queue.Full:
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

    def start_streaming(self) -> None:
        if not self.streaming:
            log.info("starting %s tracker", self.source.name)
            self.streaming = True
            self.source.start(self)
            self._status_due = True

    def stop_streaming(self) -> None:
        if self.streaming:
            log.info("stopping %s tracker", self.source.name)
            self.source.stop()
            self.streaming = False
            self._take_samples()
            self._flush_batch()
            self._status_due = True

    def add_marker(self, name: str, utc_ns: int | None, source: str = "command") -> Marker:
        if utc_ns is None:
            utc_ns = time.time_ns()
        system_time_us = self.clock.to_system_us(utc_ns // 1000) if self.clock else None
        marker = Marker(
            session=self.session,
            device=self.tracker.serial if self.tracker else None,
            name=name,
            utc=iso_from_utc_us(utc_ns // 1000),
            utc_ns=utc_ns,
            system_time_us=system_time_us,
            source=source,  # type: ignore[arg-type]
        )
        # Samples already queued belong before the marker in the recording.
        self._take_samples()
        if self.recording is not None:
            self.recording.write_marker(name, utc_ns // 1000, system_time_us)
            self.recording.flush()
        self.link.publish(self.topics.events(self.session), marker.to_json(), qos=1)
        self.counters.markers += 1
        log.info("marker %r at %s", name, marker.utc)
        return marker

    def ping_result(self) -> dict[str, Any]:
        return {
            "agent_version": _version(),
            "run": self.run_id,
            "samples_in": self.counters.samples_in,
            "outbox_depth": self.outbox.depth,
            "clock_offset_us": self.clock.offset_us if self.clock else None,
            "tracker": self.tracker.serial if self.tracker else None,
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
            wake_at = due.batch
            pending_live = self._throttle.next_allowed_s()
            if pending_live is not None:
                wake_at = min(wake_at, pending_live)
            self._wake.wait(min(1.0, max(0.0, wake_at - time.monotonic())))  # keeps the watchdog fed
            self._wake.clear()
            try:
                self._step(due, interval)
            except Exception:  # a bug must not end the recording: log it, count it, go on
                self.loop_errors += 1
                log.exception("agent loop failed (%d times so far); continuing", self.loop_errors)
                self._status_due = True
                self._shutdown.wait(0.1)

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
            due.batch += interval
            if due.batch <= now:
                due.batch = now + interval
        self._publish_live(now)
        if now >= due.housekeeping:
            self._note_evictions(self.outbox.evict_expired())
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
        clock = self.clock
        offset = clock.offset_us if clock else 0
        builder, throttle, counters = self._builder, self._throttle, self.counters
        get = self.samples.get_nowait
        while True:
            try:
                item = get()
            except queue.Empty:
                return
            if type(item) is tuple:
                _, name, system_time_us = item
                self.add_marker(name, (system_time_us + offset) * 1000, source="local")
                continue
            seq = self.next_seq
            try:  # everything that can fail on a malformed sample, before anything is stored
                gaze = combine_eyes(item)
                utc_us = int(item["system_time_stamp"]) + offset
                batch_row = builder.row(seq, utc_us, item, gaze)
                csv_row = gaze_row(seq, utc_us, item, gaze) if self.recording is not None else None
            except (KeyError, TypeError, ValueError, IndexError) as error:
                counters.samples_malformed += 1
                if counters.samples_malformed == 1:
                    log.error("malformed sample from the %s source dropped (counted): %r", self.source.name, error)
                continue
            self.next_seq = seq + 1
            counters.samples_in += 1
            if not gaze.valid:
                counters.samples_invalid += 1
            if csv_row is not None:
                self._record(csv_row)
            builder.append(batch_row)
            throttle.offer((seq, utc_us, item, gaze), valid=gaze.valid)

    def _record(self, row: list[Any]) -> None:
        """Write to the local recording; a failing disk stops the recording, not the agent."""
        try:
            self.recording.write_row(row)  # type: ignore[union-attr]
        except OSError as error:
            self._recording_failed(error)

    def _recording_failed(self, error: OSError) -> None:
        self.recording_error = f"local recording stopped: {error}"
        log.error("%s; batches are still sent", self.recording_error)
        recording, self.recording = self.recording, None
        if recording is not None:
            try:
                recording.close()
            except OSError:
                pass
        self._status_due = True

    def _flush_batch(self) -> None:
        if len(self._builder) == 0:
            return
        batch_seq = self.next_batch_seq
        payload, count = self._builder.build(
            batch_seq=batch_seq,
            clock_offset_us=self.clock.offset_us if self.clock else 0,
            sample_rate_hz=self.tracker.frequency_hz if self.tracker else None,
        )
        if self.recording is not None:
            try:
                self.recording.flush()
            except OSError as error:
                self._recording_failed(error)
        batch = OutboxBatch(batch_seq, self.topics.gaze_batch(self.session), payload, count)
        self.next_batch_seq = batch_seq + 1
        try:
            evictions = self.outbox.append(batch, next_seq=self.next_seq)
        except OutboxError as error:
            # No disk for the outbox: send the batch anyway (paho keeps it in memory
            # until acknowledged), but it no longer survives a restart: say so.
            self.counters.batches_unsaved += 1
            if self.outbox_error != str(error):
                self.outbox_error = str(error)
                log.error("%s; sending batches without the durable outbox", error)
            info = self.link.publish(batch.topic, batch.payload, qos=1)
            self._unsaved = [(i, n) for i, n in self._unsaved if not i.is_published()]
            self._unsaved.append((info, count))
            self._status_due = True
            return
        self._note_evictions(evictions)
        self.sender.wake()

    def _publish_live(self, now: float) -> None:
        if not self.link.connected.is_set():
            return
        taken = self._throttle.take(now)
        if taken is None:
            return
        (seq, utc_us, sample, gaze), count = taken
        payload = live_gaze_payload(
            session=self.session, device=self._builder.device, live_seq=self._live_seq,
            sample_seq=seq, utc_us=utc_us, sample=sample, gaze=gaze, samples=count,
        )
        self.link.publish(self.topics.gaze(self.session), payload, qos=0)
        self._live_seq += 1
        self.counters.live_published += 1

    # ================================================================== status, clock, commands

    def _run_commands(self) -> None:
        while True:
            try:
                payload = self.link.commands.get_nowait()
            except queue.Empty:
                return
            reply = handle_command(payload, self)
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
            reconnects=self.link.reconnects,
            markers=c.markers,
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
        if self.sender.counters.last_refusal:
            found.append(
                f"{self.sender.counters.batches_refused} batch sends refused by the broker (kept, retried); "
                f"last: {self.sender.counters.last_refusal}"
            )
        if self.recording_error:
            found.append(self.recording_error)
        if self.outbox_error:
            found.append(
                f"outbox unwritable ({self.outbox_error}): {self.counters.batches_unsaved} batches sent "
                "without durability"
            )
        if self.loop_errors:
            found.append(f"{self.loop_errors} internal errors in the agent loop (see its log)")
        if self.clock is None:
            found.append("clock offset not measured yet")
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
            reason=reason if reason is not None else self._tracker_detail,
            publish_hz=self.settings.publish_hz,
            tracker=self.tracker,
            display_area=self.display_area,
            clock=clock,
            counters=self.status_counters(),
            warnings=self.warnings(),
        )

    def publish_status(self, state: str | None = None, reason: str | None = None):
        self._status_due = False
        if not self.link.connected.is_set():
            return None
        status = self.current_status(state, reason)
        return self.link.publish(self.topics.status(self.session), status.to_json(), qos=1, retain=True)

    def _on_connected(self) -> None:
        # paho's thread: ask the pipeline thread to publish a fresh status.
        self._status_due = True
        self._wake.set()

    def _settle_unsaved(self) -> None:
        """Batches that bypassed an unwritable outbox live only in memory: wait
        for their acknowledgements, and say loudly what is lost."""
        pending = [(i, n) for i, n in self._unsaved if not self.link.wait_published(i, timeout_s=2.0)]
        if pending:
            log.error(
                "%d batches (%d samples) sent without the outbox were not acknowledged and are lost "
                "from the stream (the local recording has them if its disk works)",
                len(pending), sum(n for _, n in pending),
            )

    def status_line(self) -> str:
        """One line for a service manager: state, broker link, counters."""
        link = "connected" if self.link.connected.is_set() else "broker unreachable"
        c = self.status_counters()
        dropped = c.samples_dropped_queue + c.samples_dropped_outbox
        return (
            f"{self.state}, {link}; {c.samples_in} samples in, {c.samples_published} published, "
            f"{dropped} dropped, outbox {c.outbox_depth}"
        )

    def _close(self) -> None:
        if self.notifier is not None:
            self.notifier.stopping()
        log.info("shutting down: flushing %d queued samples", self.samples.qsize())
        if self.streaming:
            try:
                self.source.stop()
            except Exception:
                log.exception("stopping the tracker source failed")
        self._take_samples()
        self._flush_batch()
        if self.recording is not None:
            self.recording.close()
        if self.link.connected.is_set():
            if not self.sender.drain(timeout_s=5.0):
                log.warning("%d batches still unacknowledged; they stay in the outbox for the next start", self.outbox.depth)
            info = self.publish_status(state="offline", reason="agent stopped")
            if info is not None:
                self.link.wait_published(info, timeout_s=2.0)
        else:
            log.warning("broker unreachable at shutdown: %d batches stay in the outbox", self.outbox.depth)
        self._settle_unsaved()
        self.sender.stop()
        self.link.stop()
        self.outbox.close()
        log.info(
            "stopped: %d samples in, %d published, %d dropped",
            self.counters.samples_in,
            self.sender.counters.samples_published,
            self.counters.samples_dropped_queue + self.outbox.evicted_samples,
        )


def _version() -> str:
    from gazewire import __version__

    return __version__

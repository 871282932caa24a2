"""The running processor: wires the MQTT link and the parser (inputs), the
dispatcher (the pure core), the publisher and the sink (outputs) together.

Threads, and what each one does:

- paho's network thread receives messages and only enqueues them
  (:class:`~gazewire.processor.inputs.link.ProcessorLink`);
- the processing thread (:meth:`Processor.run`) takes them in order, lets the
  :class:`~gazewire.processor.pipeline.dispatch.Dispatcher` handle each, hands the
  points of the outcome (:func:`~gazewire.processor.outputs.points.points_of`) to the
  sink, publishes the fixation, AOI and alert messages, tells the observers,
  and only then acknowledges the message to the broker; it also refreshes the
  retained status and forgets idle sessions;
- the InfluxDB writer thread, when InfluxDB is configured.

Observers (:meth:`Processor.observe`) see every message the processor
publishes, as ``(kind, message)`` with kind ``"fixations"``, ``"aoi"``,
``"alerts"`` or ``"processor/status"`` - e.g. ``gazewire demo``'s live view.
They run on the processing thread and must return quickly.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from gazewire.wire.messages import ProcessorStatus, WireModel
from gazewire.mqtt import default_client_id
from gazewire.settings import SettingsError
from gazewire.wire.topics import Channel, Topics
from gazewire.processor.aoi_file import AoiFileError, load_aoi_file
from gazewire.processor.pipeline.aoi import NO_AOIS, AoiSet
from gazewire.processor.config import ProcessorSettings
from gazewire.processor.pipeline.dispatch import Dispatcher
from gazewire.processor.inputs.link import Delivery, ProcessorLink
from gazewire.processor.inputs.payloads import PayloadParser
from gazewire.processor.pipeline.outcome import Outcome
from gazewire.processor.outputs.files import LineProtocolFiles
from gazewire.processor.outputs.influx import InfluxWriter
from gazewire.processor.outputs.points import points_of
from gazewire.processor.outputs.publisher import Publisher
from gazewire.processor.outputs.sink import Sink
from gazewire.processor.pipeline.session import SessionConfig
from gazewire.processor.status import build_status, last_will, warnings_from

log = logging.getLogger(__name__)

Observer = Callable[[str, WireModel], None]
STATUS_KIND = "processor/status"
HOUSEKEEPING_INTERVAL_S = 10.0
SHUTDOWN_SINK_TIMEOUT_S = 10.0


def open_sink(settings: ProcessorSettings) -> Sink:
    """InfluxDB when a URL is set (spilling to files at shutdown), else line-protocol files."""
    files = LineProtocolFiles(settings.lineprotocol_path)
    if settings.influx.url:
        return InfluxWriter(settings.influx, spill=files)
    return files


def load_aois(settings: ProcessorSettings) -> AoiSet:
    if settings.aoi_file is None:
        return NO_AOIS
    try:
        return load_aoi_file(settings.aoi_file)
    except AoiFileError as error:
        raise SettingsError(f"invalid setting aoi_file: {error}") from None


class Processor:
    """One processor: all sessions under one topic prefix, one broker connection."""

    def __init__(self, settings: ProcessorSettings, *, sink: Sink | None = None) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.aois = load_aois(settings)
        self.dispatcher = Dispatcher(
            SessionConfig(
                parameters=settings.detector_parameters,
                display_mm=(settings.default_display_width_mm, settings.default_display_height_mm),
                eye_distance_mm=settings.default_eye_distance_mm,
                alerts=settings.alerts,
                aois_for=self.aois.for_session,
            ),
            PayloadParser(
                self.topics, max_bytes=settings.max_payload_bytes, allowed_sessions=settings.sessions
            ),
            max_sessions=settings.max_sessions,
            idle_session_s=settings.idle_session_s,
            status_sessions=settings.status_sessions,
            connected=lambda: self.link.connected.is_set(),
        )
        self.sink = sink if sink is not None else open_sink(settings)
        self.link = ProcessorLink(
            settings.mqtt,
            client_id=settings.mqtt.client_id or default_client_id("processor", settings.processor_id),
            subscriptions=[
                self.topics.every_session(Channel.GAZE_BATCH),
                self.topics.every_session(Channel.STATUS),
                self.topics.every_session(Channel.EVENTS),
            ],
            will_topic=self.topics.processor_status(settings.processor_id),
            will_payload=last_will(settings.processor_id, settings.algorithm).to_json(),
        )
        self.publisher = Publisher(self.link, self.topics, settings.processor_id)
        self._observers: list[Observer] = []
        self._shutdown = threading.Event()
        self._observer_errors = 0

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
        report = self.sink.report()
        log.info(
            "processor %r: prefix %r, %s, %d AOIs, sink %s %s, broker %s:%d",
            settings.processor_id, settings.topic_prefix, settings.algorithm, len(self.aois),
            report.kind, report.target, settings.mqtt.host, settings.mqtt.port,
        )
        self.sink.start()
        self.link.start()
        try:
            self._loop()
        finally:
            self._close()

    @property
    def sink_description(self) -> str:
        """Where the points go, for people: ``line-protocol files in <dir>`` or ``InfluxDB <url> ...``."""
        report = self.sink.report()
        if report.kind == "lineprotocol":
            return f"line-protocol files in {report.target}"
        return f"InfluxDB {report.target}"

    def current_status(self, state: str = "online") -> ProcessorStatus:
        sink = self.sink.report()
        counters = self.counters(sink_report=sink)
        return build_status(
            processor_id=self.settings.processor_id,
            algorithm=self.settings.algorithm,
            status_interval_s=self.settings.status_interval_s,
            counters=counters,
            sessions=self.dispatcher.session_summaries(),
            sink=sink,
            warnings=warnings_from(counters, sink, self.link.last_error),
            state=state,
        )

    def counters(self, sink_report: Any = None) -> dict[str, int]:
        sink = sink_report or self.sink.report()
        counters = self.dispatcher.counters()
        counters.update(
            points_written=sink.points_written,
            points_buffered=sink.points_buffered,
            points_dropped=sink.points_dropped,
            points_rejected=sink.points_rejected,
            points_spilled=sink.points_spilled,
            fixation_events_published=self.publisher.published[Channel.FIXATIONS.value],
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
        now = time.monotonic()
        next_status = now
        next_housekeeping = now + HOUSEKEEPING_INTERVAL_S
        was_connected = False
        deliveries = self.link.deliveries
        while not self._shutdown.is_set():
            wait = max(0.0, min(next_status, next_housekeeping) - time.monotonic())
            try:
                delivery = deliveries.get(timeout=min(wait, 1.0))
            except queue.Empty:
                delivery = None
            if delivery is not None and not self._shutdown.is_set():
                self._handle(delivery)
            now = time.monotonic()
            connected = self.link.connected.is_set()
            if connected and not was_connected:
                next_status = now  # a fresh status right after (re)connecting
            was_connected = connected
            if now >= next_status:
                self.publish_status()
                next_status = now + interval
            if now >= next_housekeeping:
                self._emit(self.dispatcher.housekeeping())
                next_housekeeping = now + HOUSEKEEPING_INTERVAL_S

    def _handle(self, delivery: Delivery) -> None:
        outcome = self.dispatcher.handle(delivery.topic, delivery.payload, retained=delivery.retained)
        self._emit(outcome)
        self.link.acknowledge(delivery)  # only now: handled, published, stored (or buffered)

    def _emit(self, outcome: Outcome) -> None:
        points = points_of(outcome)
        if points:
            self.sink.write(points)
        for channel, message in outcome.messages():
            self.publisher.event(channel, message)
            self._notify(channel.value, message)

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
        self._emit(self.dispatcher.end_all("processor stopped"))
        self.sink.close(SHUTDOWN_SINK_TIMEOUT_S)
        if self.link.connected.is_set():
            info = self.publish_status(state="offline")
            if info is not None:
                self.link.wait_published(info, timeout_s=2.0)
        self.link.stop()
        counters = self.counters()
        log.info(
            "stopped: %d batches, %d samples, %d fixations, %d points written, %d dropped",
            counters["batches"], counters["samples"], counters["fixations"],
            counters["points_written"], counters["points_dropped"],
        )

"""Send the outbox's batches in order, and forget each only once someone holds it:
a processor's journal (custody), or - with no processor online - the broker (PUBACK).

One thread. It keeps at most ``window`` batches in flight, so the live view
(QoS 0, same connection) is never stuck behind a long backlog, and sends a
backlog at most ``backlog_batches_per_s`` (token bucket). While the link is
down it sends nothing new; paho retransmits what was in flight when it comes
back (same message ids), and the sender continues after the last batch it
handed to paho. A batch the broker refuses (an MQTT 5 PUBACK with an error
reason, e.g. not authorised) stays in the outbox and is retried with backoff;
the refusal is reported in status. A batch the broker has but a failing disk
cannot delete yet counts as published and is deleted when the disk lets it.

Custody. While a processor with a journal is online (its retained status on
``<prefix>/_sys/processor/+/status`` says ``online`` with a ``journal``, and is no
older than ``custody_fallback_s``), a PUBACK only means the broker has the batch:
it stays in the outbox until the processor confirms it on ``gaze/custody``; a batch
not confirmed ``custody_timeout_s`` after its PUBACK is sent again (the processor
drops what it holds already, and confirms it again). With no such processor - a lab
that only records, or one gone longer than ``custody_fallback_s`` - the PUBACK is
enough, as before, and status says ``custody: broker``. The outbox stays bounded
either way (its size and age limits), every eviction counted.

Batches the outbox could not store (its disk failed) are handed over with
:meth:`BatchSender.send_unsaved`: published at once, connected or not (paho keeps
them in memory and sends them after a reconnection), and counted as published on
their PUBACK - matched by message id, as the outbox's batches are; what is still
unacknowledged when the agent stops is counted as dropped (:meth:`settle_unsaved`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from gazewire.agent.outputs.link import Acknowledgement, AgentLink
from gazewire.agent.outputs.outbox import Outbox, OutboxBatch, OutboxError
from gazewire.wire.messages import Custody, ProcessorStatus
from gazewire.wire.timeutil import utc_us_from_iso

log = logging.getLogger(__name__)


@dataclass
class SenderCounters:
    batches_published: int = 0
    samples_published: int = 0
    batches_refused: int = 0
    last_refusal: str | None = None
    batches_confirmed: int = 0  # left the outbox on a processor's custody confirmation
    batches_resent: int = 0  # sent again: no confirmation within custody_timeout_s
    samples_dropped_unsaved: int = 0  # sent without the outbox, not acknowledged (refused, or the agent stopped)


class BatchSender:
    def __init__(
        self,
        outbox: Outbox,
        link: AgentLink,
        *,
        window: int = 10,
        backlog_batches_per_s: float = 100.0,
        refused_retry_s: float = 5.0,
        session: str | None = None,
        custody_timeout_s: float = 20.0,
        custody_fallback_s: float = 120.0,
        clock=time.monotonic,
        wall=time.time,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if backlog_batches_per_s <= 0:
            raise ValueError(f"backlog_batches_per_s must be > 0, got {backlog_batches_per_s}")
        self.outbox = outbox
        self.link = link
        self.window = window
        self.rate = backlog_batches_per_s
        self.refused_retry_s = refused_retry_s
        self.session = session
        self.custody_timeout_s = custody_timeout_s
        self.custody_fallback_s = custody_fallback_s
        self.counters = SenderCounters()
        self._clock = clock
        self._wall = wall
        self._awaiting: dict[int, float] = {}  # batch_seq -> when the broker took it: waiting for custody
        self._processor_seen: dict[str, float] = {}  # processor id -> wall time of its last online status
        self._resent: set[int] = set()  # sent again: their next PUBACK is not counted twice
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight: dict[int, tuple[int, int]] = {}  # mid -> (batch_seq, samples)
        self._unsaved_out: queue.SimpleQueue[OutboxBatch] = queue.SimpleQueue()  # to publish without the outbox
        self._unsaved: dict[int, int] = {}  # mid -> samples: published without the outbox, not yet acknowledged
        self._undeleted: set[int] = set()  # acknowledged batch_seqs the outbox could not delete yet
        self._last_disk_error: str | None = None
        self._cursor = -1  # highest batch_seq handed to paho
        self._tokens = float(window)
        self._tokens_at = clock()
        self._paused_until = 0.0
        self._next_wait_s = 0.25
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="gazewire-batch-sender", daemon=True)
        link.when_changed(self._wake.set)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def send_unsaved(self, batch: OutboxBatch) -> None:
        """Publish a batch the outbox could not store (from any thread): it lives only in
        paho's memory until the broker acknowledges it."""
        self._unsaved_out.put(batch)
        self._wake.set()

    def settle_unsaved(self, timeout_s: float) -> tuple[int, int]:
        """Wait up to ``timeout_s`` for the PUBACKs of the batches sent without the outbox;
        count the rest as dropped. Returns the (batches, samples) dropped."""
        self._wake.set()
        with self._progress:
            self._progress.wait_for(lambda: not self._unsaved and self._unsaved_out.empty(), timeout=timeout_s)
            lost = list(self._unsaved.values())
            self._unsaved.clear()
            while True:
                try:
                    lost.append(self._unsaved_out.get_nowait().samples)
                except queue.Empty:
                    break
            self.counters.samples_dropped_unsaved += sum(lost)
        return len(lost), sum(lost)

    def drain(self, timeout_s: float) -> bool:
        """Wait until every batch in the outbox is acknowledged or the timeout passes."""
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: self.outbox.depth <= len(self._undeleted), timeout=timeout_s)

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._next_wait_s)
            self._wake.clear()
            self._next_wait_s = 0.25
            try:
                self._publish_unsaved()
                self._take_custody()
                self._take_acknowledgements()
                self._delete_undeleted()
                self._resend_unconfirmed()
                if self.link.connected.is_set() and self.link.custody_ready.is_set():
                    self._send_more()
                with self._progress:
                    self._progress.notify_all()
            except OutboxError as error:  # the disk: say it once, try again shortly
                self._disk_failed(error)
                self._stop.wait(1.0)
            except Exception:
                log.exception("batch sender failed; retrying")
                self._stop.wait(1.0)

    def _publish_unsaved(self) -> None:
        while True:
            try:
                batch = self._unsaved_out.get_nowait()
            except queue.Empty:
                return
            with self._progress:  # settle_unsaved counts what is in flight under this lock
                info = self.link.publish(batch.topic, batch.payload, qos=1)
                self._unsaved[info.mid] = batch.samples

    def _take_acknowledgements(self) -> None:
        while True:
            try:
                ack = self.link.acknowledgements.get_nowait()
            except queue.Empty:
                break
            entry = self._in_flight.pop(ack.mid, None)
            if entry is None:
                self._unsaved_acknowledged(ack)  # or a live message or a status: not ours
                continue
            batch_seq, samples = entry
            if ack.failed:
                self.counters.batches_refused += 1
                self.counters.last_refusal = f"broker refused batch {batch_seq}: {ack.reason}"
                log.error("%s; keeping it in the outbox and retrying in %.0f s", self.counters.last_refusal, self.refused_retry_s)
                self._cursor = min(self._cursor, batch_seq - 1)
                self._paused_until = self._clock() + self.refused_retry_s
                continue
            resent = batch_seq in self._resent  # counted when it was first acknowledged
            self._resent.discard(batch_seq)
            if self.custody == "processor":
                self._awaiting[batch_seq] = self._clock()  # the outbox keeps it until a processor confirms it
                counted = not resent
            else:
                counted = self._release(batch_seq) and not resent
            if counted:
                self.counters.batches_published += 1
                self.counters.samples_published += samples

    def _unsaved_acknowledged(self, ack: Acknowledgement) -> None:
        with self._progress:
            samples = self._unsaved.pop(ack.mid, None)
            if samples is None:
                return
            if ack.failed:  # no copy on disk to retry from
                self.counters.samples_dropped_unsaved += samples
                log.error("broker refused a batch sent without the outbox (%s): %d samples lost from the stream",
                          ack.reason, samples)
                return
            self.counters.batches_published += 1
            self.counters.samples_published += samples

    def _release(self, batch_seq: int) -> bool:
        """Delete a batch someone holds now; False if it was gone already (evicted)."""
        try:
            return self.outbox.remove(batch_seq)
        except OutboxError as error:  # held elsewhere: count it now, delete it later
            self._disk_failed(error)
            self._undeleted.add(batch_seq)
            return True

    # ------------------------------------------------------------------ custody

    @property
    def custody(self) -> Literal["processor", "broker"]:
        """Who a batch must reach before it leaves the outbox."""
        if self.session is None or not self._processor_seen:
            return "broker"
        newest = max(self._processor_seen.values())
        return "processor" if self._wall() - newest < self.custody_fallback_s else "broker"

    @property
    def processor_lost(self) -> bool:
        """A processor gave custody before, and none has been online for custody_fallback_s."""
        return bool(self._processor_seen) and self.custody == "broker"

    @property
    def awaiting_custody(self) -> int:
        return len(self._awaiting)

    def _take_custody(self) -> None:
        before = self.custody
        while True:
            try:
                topic, payload = self.link.custody.get_nowait()
            except queue.Empty:
                break
            try:
                if topic.endswith("/status"):
                    self._note_processor(ProcessorStatus.model_validate_json(payload))
                else:
                    self._confirmed(Custody.model_validate_json(payload))
            except (ValidationError, ValueError) as error:
                log.debug("ignoring an unreadable message on %s: %s", topic, error)
        if before == "processor" and self.custody == "broker":
            self._fall_back_to_broker()
        elif before == "broker" and self.custody == "processor":
            log.info("a processor with a journal is online: batches leave the outbox on its custody confirmation")

    def _note_processor(self, status: ProcessorStatus) -> None:
        # Only online statuses of a processor that takes this session count; a processor that
        # stops (or vanishes) ages out after custody_fallback_s, so a restart of the processor
        # does not hand custody to the broker.
        if status.state != "online" or status.journal is None or not status.utc:
            return
        if self.session is None or not status.serves(self.session):
            return  # another shard's processor (or one for other sessions) never confirms ours
        seen = utc_us_from_iso(status.utc) / 1e6
        self._processor_seen[status.processor] = max(seen, self._processor_seen.get(status.processor, 0.0))

    def _confirmed(self, custody: Custody) -> None:
        if custody.session != self.session:
            return
        batches, _ = self.outbox.remove_ranges(custody.batches)
        self.counters.batches_confirmed += batches
        for first, last in custody.batches:
            for batch_seq in [seq for seq in self._awaiting if first <= seq <= last]:
                del self._awaiting[batch_seq]
        self._resent = {seq for seq in self._resent if not any(a <= seq <= b for a, b in custody.batches)}

    def _resend_unconfirmed(self) -> None:
        """Send again what the broker took but no processor confirmed in time."""
        if not self._awaiting:
            return
        if self.custody == "broker":
            self._fall_back_to_broker()
            return
        now = self._clock()
        overdue = [seq for seq, at in self._awaiting.items() if now - at >= self.custody_timeout_s]
        if overdue:
            for batch_seq in overdue:
                del self._awaiting[batch_seq]
            self._resent.update(overdue)
            self.counters.batches_resent += len(overdue)
            self._cursor = min(self._cursor, min(overdue) - 1)
            log.warning("%d batches not confirmed by a processor within %.0f s: sending them again",
                        len(overdue), self.custody_timeout_s)
        else:
            self._wake_later(self.custody_timeout_s - (now - min(self._awaiting.values())))

    def _fall_back_to_broker(self) -> None:
        """No processor online for custody_fallback_s: the broker's PUBACK is custody again."""
        for batch_seq in sorted(self._awaiting):
            self._release(batch_seq)
        self._awaiting.clear()
        log.warning("no processor with a journal online for %.0f s: batches leave the outbox on the "
                    "broker's PUBACK (custody: broker)", self.custody_fallback_s)

    def _delete_undeleted(self) -> None:
        for batch_seq in sorted(self._undeleted):
            try:
                self.outbox.remove(batch_seq)
            except OutboxError as error:  # still refused: sending goes on meanwhile
                self._disk_failed(error)
                return
            self._undeleted.discard(batch_seq)
        if self._last_disk_error is not None and not self._undeleted:
            log.warning("the outbox's disk works again")
            self._last_disk_error = None

    def _disk_failed(self, error: OutboxError) -> None:
        if str(error) != self._last_disk_error:
            self._last_disk_error = str(error)
            log.error("%s; acknowledged batches are deleted once the disk lets them", error)
        if self._undeleted:
            self._wake_later(1.0)

    def _send_more(self) -> None:
        now = self._clock()
        if now < self._paused_until:
            self._wake_later(self._paused_until - now)
            return
        self._tokens = min(float(self.window), self._tokens + (now - self._tokens_at) * self.rate)
        self._tokens_at = now
        room = min(self.window - len(self._in_flight), int(self._tokens))
        if room <= 0:
            if len(self._in_flight) < self.window:
                self._wake_later(1.0 / self.rate)
            return
        in_flight_seqs = {seq for seq, _ in self._in_flight.values()} | self._undeleted
        for batch in self.outbox.pending(self._cursor, room):
            if batch.batch_seq in in_flight_seqs or batch.batch_seq in self._awaiting:
                self._cursor = batch.batch_seq  # sent already, and not yet due again
                continue
            info = self.link.publish(batch.topic, batch.payload, qos=1)
            self._in_flight[info.mid] = (batch.batch_seq, batch.samples)
            self._cursor = batch.batch_seq
            self._tokens -= 1
        if self._tokens < 1 and self.outbox.depth > len(self._in_flight):
            self._wake_later(1.0 / self.rate)

    def _wake_later(self, delay_s: float) -> None:
        self._next_wait_s = min(self._next_wait_s, max(0.001, delay_s))

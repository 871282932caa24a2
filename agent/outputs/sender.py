"""Send the outbox's batches in order, and forget each only after its PUBACK.

One thread. It keeps at most ``window`` batches in flight, so the live view
(QoS 0, same connection) is never stuck behind a long backlog, and sends a
backlog at most ``backlog_batches_per_s`` (token bucket). While the link is
down it sends nothing new; paho retransmits what was in flight when it comes
back (same message ids), and the sender continues after the last batch it
handed to paho. A batch the broker refuses (an MQTT 5 PUBACK with an error
reason, e.g. not authorised) stays in the outbox and is retried with backoff;
the refusal is reported in status. A batch the broker has but a failing disk
cannot delete yet counts as published and is deleted when the disk lets it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from gazewire.agent.outputs.link import AgentLink
from gazewire.agent.outputs.outbox import Outbox, OutboxError

log = logging.getLogger(__name__)


@dataclass
class SenderCounters:
    batches_published: int = 0
    samples_published: int = 0
    batches_refused: int = 0
    last_refusal: str | None = None


class BatchSender:
    def __init__(
        self,
        outbox: Outbox,
        link: AgentLink,
        *,
        window: int = 10,
        backlog_batches_per_s: float = 100.0,
        refused_retry_s: float = 5.0,
        clock=time.monotonic,
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
        self.counters = SenderCounters()
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight: dict[int, tuple[int, int]] = {}  # mid -> (batch_seq, samples)
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
                self._take_acknowledgements()
                self._delete_undeleted()
                if self.link.connected.is_set():
                    self._send_more()
                with self._progress:
                    self._progress.notify_all()
            except OutboxError as error:  # the disk: say it once, try again shortly
                self._disk_failed(error)
                self._stop.wait(1.0)
            except Exception:
                log.exception("batch sender failed; retrying")
                self._stop.wait(1.0)

    def _take_acknowledgements(self) -> None:
        while True:
            try:
                ack = self.link.acknowledgements.get_nowait()
            except queue.Empty:
                break
            entry = self._in_flight.pop(ack.mid, None)
            if entry is None:
                continue  # a live message or a status: not ours
            batch_seq, samples = entry
            if ack.failed:
                self.counters.batches_refused += 1
                self.counters.last_refusal = f"broker refused batch {batch_seq}: {ack.reason}"
                log.error("%s; keeping it in the outbox and retrying in %.0f s", self.counters.last_refusal, self.refused_retry_s)
                self._cursor = min(self._cursor, batch_seq - 1)
                self._paused_until = self._clock() + self.refused_retry_s
                continue
            try:
                removed = self.outbox.remove(batch_seq)
            except OutboxError as error:  # the broker has it: count it now, delete it later
                self._disk_failed(error)
                self._undeleted.add(batch_seq)
                removed = True
            if removed:
                self.counters.batches_published += 1
                self.counters.samples_published += samples

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
            if batch.batch_seq in in_flight_seqs:
                self._cursor = batch.batch_seq
                continue
            info = self.link.publish(batch.topic, batch.payload, qos=1)
            self._in_flight[info.mid] = (batch.batch_seq, batch.samples)
            self._cursor = batch.batch_seq
            self._tokens -= 1
        if self._tokens < 1 and self.outbox.depth > len(self._in_flight):
            self._wake_later(1.0 / self.rate)

    def _wake_later(self, delay_s: float) -> None:
        self._next_wait_s = min(self._next_wait_s, max(0.001, delay_s))

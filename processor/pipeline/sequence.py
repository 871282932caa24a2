"""Sequence tracking of one session's batch stream: what is new, what was seen
twice, what is missing, and when a stream starts over.

The agent numbers batches (``batch_seq``) and samples (``seq``, ``first_seq``
+ ``count``) without gaps and keeps both counters across its restarts; its
``run`` id changes with every agent process. So:

* ``batch_seq`` below the next expected one: a duplicate (QoS 1 delivers at
  least once), unless it is one we counted missing - then it is *late* (its
  samples are stored, but detection has moved on);
* above it: a gap; the samples in between (``first_seq`` minus the expected
  ``seq``) are counted missing;
* a ``run`` never seen before whose ``batch_seq`` is below the expected one:
  the agent lost its counters (new data directory, new PC): a new stream,
  counted as a reset. (A batch of a run seen before is a duplicate: the agent
  resends its outbox after a restart with the old run's id in it. Without run
  ids - not a v1 agent - a restart at 0 cannot be told from duplicates.)

:meth:`SequenceTracker.classify` only looks; :meth:`SequenceTracker.accept`
commits, so a batch refused for another reason leaves the state unchanged -
except that :meth:`SequenceTracker.refused` notes its numbers: when a later
batch finds it missing, its samples are not counted missing (they came, and
were counted as refused), while the gap is still remembered, so the batch of
that number, should it come after all (the refused one was forged), is late
and taken.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

MAX_REMEMBERED_GAPS = 64
MAX_REMEMBERED_RUNS = 16
MAX_REMEMBERED_REFUSALS = 64


class Verdict(str, Enum):
    FIRST = "first"  # the first batch of the stream
    NEXT = "next"  # the expected batch
    GAP = "gap"  # batches are missing before this one
    DUPLICATE = "duplicate"  # seen already
    LATE = "late"  # one we counted missing, arriving after later ones
    RESET = "reset"  # a new agent run that starts its numbering over


@dataclass(frozen=True, slots=True)
class Classification:
    verdict: Verdict
    missing_batches: int = 0
    missing_samples: int = 0
    new_run: bool = False  # the batch comes from another agent process than the previous one


@dataclass(frozen=True, slots=True)
class BatchNumbers:
    run: str | None
    batch_seq: int
    first_seq: int
    count: int


class SequenceTracker:
    def __init__(self) -> None:
        self.run: str | None = None
        self.next_batch_seq: int | None = None
        self.next_seq: int | None = None
        self._gaps: deque[tuple[int, int]] = deque(maxlen=MAX_REMEMBERED_GAPS)  # [first, end) batch_seqs
        self._runs: deque[str | None] = deque(maxlen=MAX_REMEMBERED_RUNS)
        self._refused: dict[int, int] = {}  # batch_seq -> samples, of refused batches not yet passed

    def classify(self, batch: BatchNumbers) -> Classification:
        expected = self.next_batch_seq
        new_run = self.run is not None and batch.run != self.run
        if expected is None:
            return Classification(Verdict.FIRST, new_run=new_run)
        if batch.batch_seq < expected:
            if self._is_missing(batch.batch_seq):
                return Classification(Verdict.LATE, new_run=new_run)
            if batch.run is not None and batch.run not in self._runs:
                return Classification(Verdict.RESET, new_run=True)
            return Classification(Verdict.DUPLICATE, new_run=new_run)
        if batch.batch_seq == expected:
            missing = max(0, batch.first_seq - (self.next_seq or 0)) if batch.count else 0
            return Classification(Verdict.NEXT if missing == 0 else Verdict.GAP, 0, missing, new_run)
        missing_samples = max(0, batch.first_seq - (self.next_seq or 0)) if batch.count else 0
        refused_batches, refused_samples = self._refused_between(expected, batch.batch_seq)
        return Classification(
            Verdict.GAP,
            batch.batch_seq - expected - refused_batches,
            max(0, missing_samples - refused_samples),
            new_run,
        )

    def accept(self, batch: BatchNumbers, classification: Classification) -> None:
        verdict = classification.verdict
        if verdict is Verdict.DUPLICATE:
            return
        if verdict is Verdict.LATE:
            self._forget_missing(batch.batch_seq)
            return
        if verdict is Verdict.RESET:
            self._gaps.clear()
        if batch.run not in self._runs:
            self._runs.append(batch.run)
        if verdict is Verdict.GAP and self.next_batch_seq is not None and batch.batch_seq > self.next_batch_seq:
            self._gaps.append((self.next_batch_seq, batch.batch_seq))  # refused ones too: see the docstring
        self.run = batch.run
        self.next_batch_seq = batch.batch_seq + 1
        if batch.count:
            self.next_seq = batch.first_seq + batch.count
        elif self.next_seq is None:
            self.next_seq = batch.first_seq
        if self._refused:
            self._refused = {seq: n for seq, n in self._refused.items() if seq >= self.next_batch_seq}

    def refused(self, batch: BatchNumbers) -> None:
        """A batch of these numbers was refused as bad input (nothing else changes)."""
        expected = self.next_batch_seq
        if expected is not None and batch.batch_seq < expected:
            return  # behind the stream: no later batch will find it missing
        if len(self._refused) >= MAX_REMEMBERED_REFUSALS and batch.batch_seq not in self._refused:
            return  # a flood of refusals: the oldest are kept; beyond them, counted missing as well
        self._refused[batch.batch_seq] = batch.count

    # ------------------------------------------------------------------ across restarts

    def state(self) -> dict[str, object]:
        """Everything the tracker knows, as JSON-able values (a processor restart resumes from it)."""
        return {
            "run": self.run,
            "next_batch_seq": self.next_batch_seq,
            "next_seq": self.next_seq,
            "gaps": [list(gap) for gap in self._gaps],
            "runs": list(self._runs),
        }

    @classmethod
    def from_state(cls, state: dict) -> SequenceTracker:
        tracker = cls()
        tracker.run = state.get("run")
        tracker.next_batch_seq = state.get("next_batch_seq")
        tracker.next_seq = state.get("next_seq")
        tracker._gaps.extend((int(first), int(end)) for first, end in state.get("gaps", []))
        tracker._runs.extend(state.get("runs", []))
        return tracker

    # ------------------------------------------------------------------ internals

    def _refused_between(self, first: int, end: int) -> tuple[int, int]:
        """Batches and samples refused with a batch_seq in [first, end)."""
        if not self._refused:
            return 0, 0
        counts = [n for seq, n in self._refused.items() if first <= seq < end]
        return len(counts), sum(counts)

    def _is_missing(self, batch_seq: int) -> bool:
        return any(first <= batch_seq < end for first, end in self._gaps)

    def _forget_missing(self, batch_seq: int) -> None:
        for index, (first, end) in enumerate(self._gaps):
            if first <= batch_seq < end:
                del self._gaps[index]
                if first < batch_seq:
                    self._gaps.append((first, batch_seq))
                if batch_seq + 1 < end:
                    self._gaps.append((batch_seq + 1, end))
                return

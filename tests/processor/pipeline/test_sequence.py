"""Sequence tracking: duplicates, gaps, late batches, agent restarts, resets."""

from gazewire.processor.pipeline.sequence import BatchNumbers, SequenceTracker, Verdict


def take(tracker: SequenceTracker, run: str | None, batch_seq: int, first_seq: int, count: int = 10):
    numbers = BatchNumbers(run, batch_seq, first_seq, count)
    classification = tracker.classify(numbers)
    tracker.accept(numbers, classification)
    return classification


def test_batches_in_order_are_next_and_a_repeat_is_a_duplicate():
    tracker = SequenceTracker()
    assert take(tracker, "a", 0, 0).verdict is Verdict.FIRST
    assert take(tracker, "a", 1, 10).verdict is Verdict.NEXT
    assert take(tracker, "a", 1, 10).verdict is Verdict.DUPLICATE
    assert take(tracker, "a", 0, 0).verdict is Verdict.DUPLICATE
    assert take(tracker, "a", 2, 20).verdict is Verdict.NEXT


def test_a_gap_counts_the_missing_batches_and_samples():
    tracker = SequenceTracker()
    take(tracker, "a", 0, 0)
    gap = take(tracker, "a", 4, 37)
    assert (gap.verdict, gap.missing_batches, gap.missing_samples) == (Verdict.GAP, 3, 27)


def test_a_missing_batch_that_arrives_later_is_late_once_then_a_duplicate():
    tracker = SequenceTracker()
    take(tracker, "a", 0, 0)
    take(tracker, "a", 3, 30)
    assert take(tracker, "a", 1, 10).verdict is Verdict.LATE
    assert take(tracker, "a", 1, 10).verdict is Verdict.DUPLICATE
    assert take(tracker, "a", 2, 20).verdict is Verdict.LATE
    assert take(tracker, "a", 4, 40).verdict is Verdict.NEXT


def test_an_agent_restart_that_keeps_its_counters_is_not_a_reset():
    tracker = SequenceTracker()
    take(tracker, "a", 0, 0)
    take(tracker, "a", 1, 10)
    restarted = take(tracker, "b", 2, 20)
    assert restarted.verdict is Verdict.NEXT and restarted.new_run
    # the old run's outbox, redelivered after the restart, is a duplicate, not a new stream
    assert take(tracker, "a", 1, 10).verdict is Verdict.DUPLICATE


def test_a_new_run_that_starts_over_at_zero_is_a_reset():
    tracker = SequenceTracker()
    take(tracker, "a", 0, 0)
    take(tracker, "a", 50, 500)
    reset = take(tracker, "fresh", 0, 0)
    assert reset.verdict is Verdict.RESET and reset.new_run
    assert take(tracker, "fresh", 1, 10).verdict is Verdict.NEXT


def test_classify_alone_changes_nothing():
    tracker = SequenceTracker()
    take(tracker, "a", 0, 0)
    tracker.classify(BatchNumbers("a", 1, 10, 10))
    assert tracker.classify(BatchNumbers("a", 1, 10, 10)).verdict is Verdict.NEXT

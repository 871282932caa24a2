"""A sink fed from the journal: slices and checkpoints, an outage of any length caught
up exactly once, a restart resumed at the checkpoint, refusals counted, and a replay
byte-identical to the live writes. A stand-in sink records what it is given (the real
servers: tests/processor/outputs/test_time_series_server.py and tests/faults/)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from gazewire.processor.journal import Journal, Record, RecordKind
from gazewire.processor.journal import feed as feed_module
from gazewire.processor.journal.convert import records_of
from gazewire.processor.journal.feed import SinkFeed
from gazewire.processor.outputs.sink import Entry, SinkRejected, SinkUnavailable
from tests.processor.streams import batch_payloads, dispatcher, simulated, status_payload


class FakeSink:
    name = "fake"
    kind = "influxdb"
    target = "memory"

    def __init__(self) -> None:
        self.up = True
        self.refuse = False
        self.lines: list[str] = []
        self.attempts = 0
        self.changed = threading.Condition()

    def start(self) -> None: ...

    def intent(self, entries: Sequence[Entry]) -> str | None:
        return None

    def recover(self, intent: str) -> None: ...

    def write(self, entries: Sequence[Entry]) -> None:
        with self.changed:
            self.attempts += 1
            self.changed.notify_all()
            if self.refuse:
                raise SinkRejected("HTTP 400: bad")
            if not self.up:
                raise SinkUnavailable("connection refused")
            self.lines += [e[0] for e in entries]
            self.changed.notify_all()

    def close(self) -> None: ...

    def wait(self, predicate, timeout_s: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout_s), f"timed out; {len(self.lines)} lines"


def markers(start: int, count: int) -> list[Record]:
    return [
        Record("s1", RecordKind.MARKER,
               f'{{"v":1,"session":"s1","name":"m{i}","utc":"x","utc_ns":{i * 1000},"source":"command"}}'.encode(),
               received_utc_us=i, first_utc_us=i)
        for i in range(start, start + count)
    ]


def marker_line(i: int) -> str:
    return f'marker,session=s1,source=command name="m{i}" {i}'


def make_feed(sink, journal, **kw) -> SinkFeed:
    return SinkFeed(sink, journal, batch_points=kw.pop("batch_points", 10), flush_interval_s=0.01,
                    retry_min_s=0.01, retry_max_s=0.05, **kw)


def store(journal: Journal, feed: SinkFeed, records: list[Record]) -> None:
    before = journal.last_position
    feed.offer(journal.append(records), after=before)


def test_records_are_written_in_slices_in_order_and_the_checkpoint_follows(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    sink = FakeSink()
    feed = make_feed(sink, journal)
    feed.start()
    store(journal, feed, markers(0, 25))
    sink.wait(lambda: len(sink.lines) == 25)
    feed.close(2.0)
    assert sink.lines == [marker_line(i) for i in range(25)]
    assert sink.attempts == 3, "slices of at most batch_points"
    assert journal.checkpoint("fake").position == 25
    report = feed.report()
    assert (report.points_written, report.records_behind, report.checkpoint) == (25, 0, 25)


def test_an_outage_of_any_length_is_caught_up_from_the_journal_every_point_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(feed_module, "MAX_OFFERED_CHUNKS", 3)  # offered commits are let go: the journal has them
    journal = Journal(tmp_path / "journal.sqlite")
    sink = FakeSink()
    feed = make_feed(sink, journal)
    feed.start()
    store(journal, feed, markers(0, 5))
    sink.wait(lambda: len(sink.lines) == 5)
    sink.up = False
    with caplog.at_level(logging.WARNING):
        for start in range(5, 200, 5):
            store(journal, feed, markers(start, 5))
        sink.wait(lambda: sink.attempts > 10)
        report = feed.report()
        assert report.state == "unreachable" and report.records_behind > 150
        sink.up = True
        sink.wait(lambda: len(sink.lines) >= 200)
        feed.close(2.0)
    assert sink.lines == [marker_line(i) for i in range(200)], "every point once, in order"
    outage_logs = [r for r in caplog.records if "sink" in r.getMessage()]
    assert len(outage_logs) == 2, "the outage is logged when it starts and when it ends"


def test_a_restarted_feed_resumes_at_its_checkpoint(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    first = FakeSink()
    feed = make_feed(first, journal)
    feed.start()
    store(journal, feed, markers(0, 30))
    first.wait(lambda: len(first.lines) == 30)
    feed.close(2.0)
    journal.append(markers(30, 12))  # stored while the sink was away (processor crash, no offer)
    second = FakeSink()
    feed = make_feed(second, journal)
    feed.start()
    second.wait(lambda: len(second.lines) == 12)
    feed.close(2.0)
    assert second.lines == [marker_line(i) for i in range(30, 42)]


def test_points_the_server_refuses_are_counted_and_not_retried(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    sink = FakeSink()
    sink.refuse = True
    feed = make_feed(sink, journal)
    feed.start()
    store(journal, feed, markers(0, 4))
    sink.wait(lambda: sink.attempts == 1)
    feed.close(2.0)
    report = feed.report()
    assert (report.points_rejected, report.points_written, report.checkpoint, sink.attempts) == (4, 0, 4, 1)


def test_without_a_journal_what_overflows_the_memory_buffer_is_dropped_and_counted(tmp_path):
    sink = FakeSink()
    sink.up = False
    feed = make_feed(sink, None, buffer_points=20)
    feed.start()
    position = 0
    for start in range(0, 50, 5):
        records = [Record(r.session, r.kind, r.body, r.received_utc_us, r.first_utc_us, position=position + i + 1)
                   for i, r in enumerate(markers(start, 5))]
        feed.offer(records, after=position)
        position += 5
    sink.wait(lambda: sink.attempts > 3)
    sink.up = True
    sink.wait(lambda: len(sink.lines) >= 20)
    feed.close(2.0)
    report = feed.report()
    # every point written or counted as dropped: the buffer (20) and the slice being retried (10) survive
    assert report.points_written + report.points_dropped == 50 and report.points_dropped >= 50 - 20 - 10
    assert sink.lines[-20:] == [marker_line(i) for i in range(30, 50)], "the newest are kept"
    assert len(set(sink.lines)) == len(sink.lines) == report.points_written


def test_a_replay_from_the_journal_is_byte_identical_to_the_live_writes(tmp_path):
    stream = simulated(6.0, seed=4)
    d = dispatcher(long_fixation_s=0.3, gaze_lost_s=0.2)
    journal = Journal(tmp_path / "journal.sqlite")
    live = FakeSink()
    feed = make_feed(live, journal, batch_points=200)
    feed.start()
    topic = "lab/s1/gaze/batch"
    messages = [("lab/s1/status", status_payload())] + [(topic, p) for p in batch_payloads(stream.samples, sizes=12)]
    for at, (topic_, payload) in enumerate(messages):
        outcome = d.handle(topic_, payload)
        payloads = {id(b): payload for b in outcome.batches}
        store(journal, feed, records_of(outcome, received_utc_us=1_000 + at, payloads=payloads))
    store(journal, feed, records_of(d.end_all("test"), received_utc_us=9_999))
    live.wait(lambda: feed.caught_up and len(live.lines) > len(stream.samples))
    feed.close(2.0)
    kinds = {line.split(",", 1)[0] for line in live.lines}
    assert {"gaze", "fixation", "saccade", "blink", "alert", "agent_status"} <= kinds

    replayed = FakeSink()
    replay = make_feed(replayed, journal, batch_points=5000)
    replay.start(from_position=0)
    replayed.wait(lambda: len(replayed.lines) == len(live.lines))
    replay.close(2.0)
    assert sorted(replayed.lines) == sorted(live.lines)
    assert len(set(live.lines)) == len(live.lines)


def test_saccades_pursuits_blinks_are_journaled_and_a_retracted_start_makes_no_point(tmp_path):
    from gazewire.processor.journal.convert import outcome_of, point_count
    from gazewire.processor.outputs.points import points_of
    from tests.processor.pipeline.test_movement_events import SCENE
    from tests.processor.streams import scripted

    d = dispatcher()
    outcome = d.handle("lab/s1/status", status_payload())
    for payload in batch_payloads(scripted(SCENE)):
        outcome.merge(d.handle("lab/s1/gaze/batch", payload))
    outcome.merge(d.end_all("test"))
    assert outcome.saccades and outcome.pursuits and outcome.blinks
    assert any(e.retracted for e in outcome.fixation_events)
    records = records_of(outcome, received_utc_us=1)
    journal = Journal(tmp_path / "journal.sqlite")
    journal.append(records)
    read_back = journal.read_after(0, 100_000)  # as stored: parsed from their JSON
    assert len(read_back) == len(records) and all(r.value is None for r in read_back)
    again = outcome_of(read_back)
    assert again.saccades == outcome.saccades and again.pursuits == outcome.pursuits
    assert again.blinks == outcome.blinks
    lines = [p.line() for p in points_of(outcome)]
    assert [p.line() for p in points_of(again)] == lines
    assert sum(point_count(r) for r in records) == len(lines)  # the feed's accounting, retracted end included
    kinds = [line.split(",", 1)[0] for line in lines]
    assert kinds.count("saccade") == 2 and kinds.count("pursuit") == 1 and kinds.count("blink") == 1
    assert kinds.count("fixation") == 3  # the retracted tentative start is no fixation


"""gazewire.client.streams on messages handed to it directly (as paho's thread does)."""

from __future__ import annotations

import threading

import pytest

from gazewire.client.connection import Received
from gazewire.client.streams import Stream
from gazewire.errors import InvalidArgument, WaitTimeout
from gazewire.wire.messages import Alert


def alert(number: int) -> Received:
    payload = Alert(session="room1", type="gaze_lost", state="raised", severity="warning",
                    utc="2026-11-30T10:00:00.000000Z", utc_us=1_796_032_000_000_000 + number).to_json()
    return Received("lab/room1/alerts", payload, retained=False)


def test_a_full_buffer_drops_the_oldest_and_counts_them():
    stream = Stream(Alert, what="alerts of session 'room1'", buffer=3)
    for number in range(5):
        stream.deliver(alert(number))
    assert (stream.received, stream.dropped) == (5, 2)
    assert [stream.get().utc_us % 10 for _ in range(3)] == [2, 3, 4]


def test_latest_takes_the_newest_and_skips_the_rest_without_waiting():
    stream = Stream(Alert, what="alerts")
    assert stream.latest() is None
    for number in range(3):
        stream.deliver(alert(number))
    assert stream.latest().utc_us % 10 == 2
    assert stream.latest() is None


def test_what_does_not_parse_is_skipped_and_counted():
    stream = Stream(Alert, what="alerts")
    stream.deliver(Received("lab/room1/alerts", b"{not json", retained=False))
    stream.deliver(Received("lab/room1/alerts", b'{"v": 1}', retained=False))
    stream.deliver(alert(1))
    assert (stream.invalid, stream.received) == (2, 1)
    assert stream.get(timeout=1).utc_us % 10 == 1


def test_waiting_ends_with_a_precise_timeout_or_when_closed():
    stream = Stream(Alert, what="alerts of session 'room1'", timeout_s=0.05)
    with pytest.raises(WaitTimeout, match=r"^alerts of session 'room1': not within 0.05 s$"):
        next(stream)
    waiting = Stream(Alert, what="alerts")  # no timeout: waits until closed, from another thread
    closer = threading.Timer(0.05, waiting.close)
    closer.start()
    assert list(waiting) == [] and waiting.get() is None
    closer.join()


def test_a_callback_gets_the_messages_and_a_broken_one_stops_nothing():
    taken = []
    stream = Stream(Alert, what="alerts", callback=lambda a: taken.append(a) or (1 / 0 if len(taken) == 1 else None))
    stream.deliver(alert(1))
    stream.deliver(alert(2))
    assert len(taken) == 2 and stream.latest() is None


@pytest.mark.parametrize("options", [{"buffer": 0}, {"buffer": 1.5}, {"timeout_s": 0}, {"timeout_s": "5"}])
def test_bad_options_are_refused(options):
    with pytest.raises(InvalidArgument):
        Stream(Alert, what="alerts", **options)

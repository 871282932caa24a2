"""Bad input: every kind counted per session, logged at most once a minute, never a
crash, and never a disturbance to another session (plus a hypothesis fuzz)."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazewire.wire.messages import BATCH_COLUMNS, MAX_BATCH_SAMPLES
from gazewire.processor.config import ProcessorSettings
from tests.processor.streams import (
    batch_payloads,
    dispatcher,
    feed,
    fixation_key,
    make_dispatcher,
    mutate,
    simulated,
    status_payload,
)

GOOD = batch_payloads(simulated(2, seed=1).samples)
FIRST = GOOD[0]
N = json.loads(FIRST)["count"]


def huge_batch() -> bytes:
    message = json.loads(FIRST)
    message["count"] = MAX_BATCH_SAMPLES + 1
    return json.dumps(message).encode()


BAD = [
    ("lab/s1/gaze/batch", b"{not json", "json"),
    ("lab/s1/gaze/batch", b"", "json"),
    ("lab/s1/gaze/batch", b"[1, 2, 3]", "schema"),
    ("lab/s1/gaze/batch", mutate(FIRST, batch_seq="seven"), "schema"),
    ("lab/s1/gaze/batch", mutate(FIRST, v=2), "version"),
    ("lab/s1/gaze/batch", FIRST.replace(b'"x":[', b'"x":[NaN,', 1).replace(b'"count":' + str(N).encode(), b'"count":' + str(N + 1).encode()), "non_finite"),
    ("lab/s1/gaze/batch", mutate(FIRST, **{"columns.y": [1e400] * N}), "non_finite"),
    ("lab/s1/gaze/batch", huge_batch(), "too_large"),
    ("lab/s1/gaze/batch", b"[" + b"0," * 3_000_000 + b"0]", "too_large"),  # over max_payload_kb: not even parsed
    ("lab/s1/gaze/batch", mutate(FIRST, batch_seq=10**30), "out_of_range"),
    ("lab/s1/gaze/batch", mutate(FIRST, **{"columns.system_time_us": [10**19] * N}), "out_of_range"),
    ("lab/s1/gaze/batch", mutate(FIRST, session="s2"), "session_mismatch"),
    ("lab/s1/gaze/batch", mutate(FIRST, **{"columns.system_time_us": list(range(N, 0, -1))}), "time_backwards"),
    ("lab/s1/gaze/batch", mutate(FIRST, **{"columns.seq": [0] * N}), "schema"),
    ("lab/s1/gaze/batch", mutate(FIRST, **{"columns.x": [0.5] * (N + 3)}), "schema"),
    ("lab/s1/status", b'{"v": 1, "session": "s1", "state": "dancing"}', "schema"),
    ("lab/s1/events", b'{"v": 1, "session": "s1", "name": ""}', "schema"),
    ("lab/bad session/gaze/batch", FIRST, "topic"),
    ("lab/_sys/gaze/batch", FIRST, "topic"),
    ("lab/s1/cmd", b'{"command": "ping"}', "topic"),
    ("elsewhere/s1/gaze/batch", FIRST, "topic"),
]


@pytest.mark.parametrize("topic, payload, kind", BAD, ids=[f"{kind}-{i}" for i, (_, _, kind) in enumerate(BAD)])
def test_each_kind_of_bad_input_is_counted_under_its_name(topic, payload, kind):
    d = make_dispatcher(ProcessorSettings(max_payload_kb=1024))
    out = d.handle(topic, payload)
    assert not out
    counters = d.counters()
    assert counters[f"bad_input_{kind}"] == 1 and counters["bad_input"] == 1, {k: v for k, v in counters.items() if v}
    expected = "s1" if topic.startswith("lab/s1/") else "_invalid"
    assert d.session_summaries()[expected]["bad_input"] == {kind: 1}


def test_time_running_backwards_across_batches_is_refused_and_the_stream_goes_on():
    d = dispatcher()
    feed(d, GOOD[:5])
    replay_as_new = mutate(GOOD[2], batch_seq=5, first_seq=5 * N, **{"columns.seq": list(range(5 * N, 6 * N))})
    assert not d.handle("lab/s1/gaze/batch", replay_as_new)
    assert d.counters()["bad_input_time_backwards"] == 1
    assert d.counters()["rejected_samples"] == N
    feed(d, GOOD[5:])  # the real batch 5 is still welcome
    assert d.counters()["batches"] == len(GOOD) and d.counters()["gap_batches"] == 0


def test_sessions_not_configured_are_unknown_and_too_many_sessions_are_refused():
    d = make_dispatcher(ProcessorSettings(sessions=["s1"]))
    d.handle("lab/intruder/gaze/batch", mutate(FIRST, session="intruder"))
    assert d.counters()["bad_input_unknown_session"] == 1 and "intruder" not in d.sessions

    full = make_dispatcher(ProcessorSettings(max_sessions=2))
    for name in ("a", "b"):  # two messages each: established
        full.handle(f"lab/{name}/gaze/batch", mutate(FIRST, session=name))
        full.handle(f"lab/{name}/status", status_payload(name))
    full.handle("lab/c/gaze/batch", mutate(FIRST, session="c"))
    assert list(full.sessions) == ["a", "b"] and full.counters()["bad_input_too_many_sessions"] == 1
    assert full.session_summaries()["c"]["bad_input"] == {"too_many_sessions": 1}


def test_bad_input_is_logged_once_a_minute_per_session_and_kind(caplog):
    d = dispatcher()
    with caplog.at_level(logging.WARNING, logger="gazewire.processor.pipeline.bad_input"):
        for _ in range(100):
            d.handle("lab/s1/gaze/batch", b"{oops")
            d.handle("lab/s2/gaze/batch", b"{oops")
            d.handle("lab/s1/gaze/batch", mutate(FIRST, v=3))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert d.counters()["bad_input_json"] == 200 and d.counters()["bad_input_version"] == 100


def test_one_bad_session_does_not_disturb_another():
    clean = make_dispatcher(ProcessorSettings(max_payload_kb=1024))
    reference = [fixation_key(e) for e in feed(clean, GOOD_LONG, session="s2").fixation_events]
    d = make_dispatcher(ProcessorSettings(max_payload_kb=1024))
    out = []
    for index, payload in enumerate(GOOD_LONG):
        for topic, bad, _ in BAD[:16]:
            d.handle(topic, bad)
        out += d.handle("lab/s2/gaze/batch", payload).fixation_events
        if index % 7 == 0:
            d.handle("lab/s1/gaze/batch", GOOD[index % len(GOOD)])  # s1 also sends real batches
    assert [fixation_key(e) for e in out] == reference and reference
    assert d.session_summaries()["s2"]["bad_input"] == {}
    assert d.counters()["bad_input"] >= len(GOOD_LONG) * 15


GOOD_LONG = batch_payloads(simulated(8, seed=2).samples, session="s2")


# --------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
COLUMN_NAMES = st.sampled_from(BATCH_COLUMNS)
TOPICS = st.sampled_from(["lab/s1/gaze/batch", "lab/s1/status", "lab/s1/events", "lab/s2/gaze/batch"]) | st.text(max_size=40)


def mutated_batch(field: str, value) -> bytes:
    message = json.loads(GOOD[1])
    if field in BATCH_COLUMNS:
        message["columns"][field] = value
    else:
        message[field] = value
    return json.dumps(message, allow_nan=True).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_the_entry_point_never_raises_and_counts_every_refusal(data):
    d = dispatcher(gaze_lost_s=0.05, long_fixation_s=0.05)
    feed(d, [status_payload()], channel="status")
    feed(d, GOOD[:1])
    refused = d.counters()["bad_input"]
    for _ in range(data.draw(st.integers(1, 6))):
        choice = data.draw(st.integers(0, 3))
        if choice == 0:
            topic, payload = data.draw(TOPICS), data.draw(st.binary(max_size=200))
        elif choice == 1:
            topic, payload = data.draw(TOPICS), json.dumps(data.draw(json_values), allow_nan=True).encode()
        elif choice == 2:
            field = data.draw(COLUMN_NAMES | st.sampled_from(["batch_seq", "first_seq", "count", "run", "v", "session",
                                                                "clock_offset_us", "sample_rate_hz", "device"]))
            topic, payload = "lab/s1/gaze/batch", mutated_batch(field, data.draw(json_values))
        else:
            topic = "lab/s1/status"
            status = json.loads(status_payload())
            status[data.draw(st.sampled_from(list(status)))] = data.draw(json_values)
            payload = json.dumps(status, allow_nan=True).encode()
        before = d.counters()
        d.handle(topic, payload)
        after = d.counters()
        handled = sum(
            after[k] - before[k] for k in ("batches", "duplicate_batches", "statuses", "markers", "statuses_cleared")
        )
        refused_now = after["bad_input"] - before["bad_input"]
        assert handled + refused_now == 1, (topic, payload[:200], {k: after[k] - before[k] for k in after if after[k] != before[k]})
    assert d.counters()["bad_input_internal_error"] == 0
    assert d.counters()["bad_input"] >= refused
    feed(d, GOOD[1:])  # and the session still works afterwards


def test_a_session_forgotten_to_make_room_still_ends_its_fixations():
    d = make_dispatcher(ProcessorSettings(max_sessions=1, idle_session_s=10))
    feed(d, GOOD_LONG[:100], session="s2")
    d._monotonic = lambda: 1000.0  # s2 has been idle long enough to make room
    out = d.handle("lab/s1/gaze/batch", FIRST)
    assert list(d.sessions) == ["s1"] and d.counters()["sessions_forgotten"] == 1
    assert [e.event for e in out.fixation_events] == ["end"] and out.fixation_events[0].session == "s2"

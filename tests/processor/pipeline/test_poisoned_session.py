"""A session is never poisoned by one bad batch (issue 9, item 7).

A batch with the agent's own run id and a host clock far in the future used to be taken, and
every later batch of the agent was then refused as ``time_backwards`` (acknowledged, so lost)
until the agent restarted. Now: a batch is refused only when it, not the stream, is the odd
one out, and a refused batch leaves nothing behind - its samples are counted refused, never
missing too, and the batch of its number is still welcome.
"""

from __future__ import annotations

import json

from gazewire.processor.config import ProcessorSettings
from tests.processor.streams import UTC_OFFSET_US, batch_payloads, make_dispatcher, mutate, simulated

GOOD = batch_payloads(simulated(4, seed=5).samples, sizes=60)  # 8 batches of 60 at 120 Hz
N = 60
HOUR_US = 3_600_000_000


def shifted(payload: bytes, *, system_us: int = 0, utc_us: int = 0) -> bytes:
    columns = json.loads(payload)["columns"]
    return mutate(
        payload,
        **{
            "columns.system_time_us": [t + system_us for t in columns["system_time_us"]],
            "columns.utc_us": [t + utc_us for t in columns["utc_us"]],
        },
    )


def run(dispatcher, payloads):
    out = []
    for payload in payloads:
        out.append(dispatcher.handle("lab/s1/gaze/batch", payload))
    return out


def stream_clock(offset_us: int = 0):
    """The processor's clock: just after the stream's samples (it handles them live)."""
    return lambda: UTC_OFFSET_US + 60_000_000 + offset_us


def accounted(counters) -> int:
    return counters["samples"] + counters["rejected_samples"] + counters["missing_samples"]


def test_a_batch_with_a_host_clock_far_ahead_does_not_poison_the_session():
    d = make_dispatcher(ProcessorSettings(), utc_us=stream_clock())
    run(d, GOOD[:3])
    poison = shifted(GOOD[3], system_us=10**12)  # the agent's run id, its host clock 11 days ahead, UTC sane
    run(d, [poison])
    outcomes = run(d, GOOD[4:])
    counters = d.counters()
    assert counters["bad_input_time_backwards"] == 0, counters
    assert all(out.batches for out in outcomes), "every later batch of the agent is taken"
    assert counters["samples"] == len(GOOD) * N and counters["missing_samples"] == 0


def test_a_batch_dated_hours_ahead_in_both_clocks_does_not_poison_the_session():
    """Within the day the checks on the way in allow, a forged batch can be taken; the next real
    batch then goes back in both clocks, but the stream's last sample is dated in the future by
    the processor's clock: that is the one that cannot be right, and a new stream starts."""
    d = make_dispatcher(ProcessorSettings(), utc_us=stream_clock())
    run(d, GOOD[:3])
    run(d, [shifted(GOOD[3], system_us=10 * HOUR_US, utc_us=10 * HOUR_US)])
    outcomes = run(d, GOOD[4:])
    assert d.counters()["bad_input_time_backwards"] == 0
    assert all(out.batches for out in outcomes)


def test_a_batch_dated_far_ahead_is_refused_and_its_samples_are_not_counted_missing():
    d = make_dispatcher(ProcessorSettings(), utc_us=stream_clock())
    run(d, GOOD[:3])
    out = run(d, [shifted(GOOD[3], system_us=3 * 86_400_000_000, utc_us=3 * 86_400_000_000)])
    assert not out[0].batches
    outcomes = run(d, GOOD[4:])
    counters = d.counters()
    assert counters["bad_input_out_of_range"] == 1
    assert all(o.batches for o in outcomes) and not any(o.alerts for o in outcomes[:1])
    assert counters["rejected_samples"] == N and counters["missing_samples"] == 0 and counters["gap_batches"] == 0
    assert accounted(counters) == len(GOOD) * N, "every sample in exactly one counter"


def test_a_batch_refused_for_its_values_is_counted_once_and_its_number_stays_open():
    d = make_dispatcher(ProcessorSettings(), utc_us=stream_clock())
    run(d, GOOD[:3])
    columns = json.loads(GOOD[3])["columns"]
    bad = mutate(GOOD[3], **{"columns.x": [1e308, *columns["x"][1:]]})
    run(d, [bad])
    run(d, GOOD[4:6])
    counters = d.counters()
    assert counters["bad_input_out_of_range"] == 1 and counters["rejected_samples"] == N
    assert counters["missing_samples"] == 0 and counters["gap_batches"] == 0
    # The refused copy was not the agent's (a forgery): its real batch 3 comes after all - taken.
    late = run(d, [GOOD[3]])[0]
    assert late.batches and d.counters()["late_batches"] == 1


def test_a_batch_going_back_in_both_clocks_is_still_refused_and_the_stream_goes_on():
    """The stream is sound (not dated in the future): a batch that repeats earlier times under a
    new number is the odd one out, and is refused; the agent's real batch of that number is taken."""
    d = make_dispatcher(ProcessorSettings(), utc_us=stream_clock())
    run(d, GOOD[:5])
    replay = json.loads(GOOD[1])
    replay.update(batch_seq=5, first_seq=5 * N)
    replay["columns"]["seq"] = list(range(5 * N, 6 * N))
    run(d, [json.dumps(replay).encode()])
    outcomes = run(d, GOOD[5:])
    counters = d.counters()
    assert counters["bad_input_time_backwards"] == 1 and counters["rejected_samples"] == N
    assert all(o.batches for o in outcomes) and counters["gap_batches"] == 0 and counters["duplicate_batches"] == 0

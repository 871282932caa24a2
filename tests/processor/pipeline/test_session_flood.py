"""A flood of made-up session ids does not starve a real agent (issue 9, item 8).

Before: with max_sessions full, every new session was refused until the oldest had been
idle for a minute, so a real agent that appeared among 10 000 made-up ids had none of its
samples stored for over a minute, its refusals were counted under ``_other``, and the
retained processor status listed every name it had seen (759 KB, sent again on every refresh).
"""

from __future__ import annotations


from gazewire.processor.config import ProcessorSettings
from gazewire.processor.outputs.sink import SinkReport
from gazewire.processor.status import build_status
from tests.processor.streams import batch_payloads, make_dispatcher, mutate, simulated, status_payload

FLOOD_BATCH = batch_payloads(simulated(0.2, seed=7).samples, sizes=6)[0]
REAL = batch_payloads(simulated(3, seed=8).samples, session="real", sizes=30)


def flood_message(i: int) -> tuple[str, bytes]:
    name = f"fake-{i:05d}"
    return f"lab/{name}/gaze/batch", mutate(FLOOD_BATCH, session=name)


def status_json(d) -> bytes:
    return build_status(
        processor_id="p", algorithm="ivt", counters=d.counters(), sessions=d.session_summaries(),
        sink=SinkReport("lineprotocol", "x"), warnings=[],
    ).to_json()


def test_a_real_agent_among_a_flood_of_made_up_sessions_has_every_batch_taken():
    d = make_dispatcher(ProcessorSettings())  # max_sessions 1000, idle for a minute to make room
    for i in range(5_000):
        d.handle(*flood_message(i))
    taken = []
    d.handle("lab/real/status", status_payload("real"))
    sent = 5_000
    for payload in REAL:
        taken.append(bool(d.handle("lab/real/gaze/batch", payload).batches))
        for _ in range(50):  # the flood goes on between the agent's batches
            d.handle(*flood_message(sent))
            sent += 1
    assert all(taken), f"{taken.count(False)} of {len(taken)} batches of the real agent refused"
    counters = d.counters()
    assert counters["bad_input"] == 0 and counters["sessions"] == 1000
    assert "real" in d.sessions and counters["sessions_established"] == 1
    assert counters["sessions_forgotten"] == sent + 1 - 1000  # made-up ones only


def test_the_retained_status_stays_small_and_lists_the_real_agent_first():
    d = make_dispatcher(ProcessorSettings())
    d.handle("lab/real/status", status_payload("real"))
    for payload in REAL[:3]:
        d.handle("lab/real/gaze/batch", payload)
    for i in range(3_000):  # the old status listed all of them: 1000 sessions and 2000 names
        d.handle(*flood_message(i))
        d.handle(f"lab/bad-{i:05d}/gaze/batch", b"{not json")  # and as many names refused outright
    summaries = d.session_summaries()
    assert list(summaries)[0] == "real"
    assert len(summaries) <= 50 + 2  # status_sessions, and the _invalid/_other aggregates
    size = len(status_json(d))
    assert size < 64_000, f"the retained status is {size} bytes"
    counters = d.counters()
    assert counters["sessions_not_in_status"] > 0 and counters["sessions_refused_only"] > 0


def test_a_refused_agent_is_named_even_when_the_table_of_names_is_full():
    """Every session established and active: a new one is refused (too_many_sessions) - under
    its own name, not ``_other``, however many names the flood left in the ledger."""
    d = make_dispatcher(ProcessorSettings(max_sessions=10))
    for i in range(10):  # ten sessions that send again and again: established
        for _ in range(2):
            d.handle(*flood_message(i))
    for i in range(100, 200):  # a hundred names refused: the ledger holds 2 x max_sessions
        d.handle(*flood_message(i))
    for payload in REAL[:5]:
        d.handle("lab/real/gaze/batch", payload)
    assert d.bad_input.for_session("real") == {"too_many_sessions": 5}
    summaries = d.session_summaries()
    assert summaries["real"] == {"bad_input": {"too_many_sessions": 5}}, list(summaries)
    assert sum(sum(c.values()) for c in d.bad_input.counts.values()) == d.counters()["bad_input"]


def test_a_session_resumed_from_the_journal_is_established_and_a_made_up_one_leaves_no_state():
    """A session the journal holds state of is no made-up id: the flood cannot make room with
    it, and the made-up ones the flood forgets leave no state behind (memory, the journal)."""
    from gazewire.processor.pipeline.resume import SessionState

    d = make_dispatcher(ProcessorSettings(max_sessions=10))
    d.resume({"real": SessionState(sequence={"run": "run-a", "next_batch_seq": 0, "next_seq": 0})})
    d.handle("lab/real/gaze/batch", REAL[0])  # its first message since the restart
    for i in range(100):
        d.handle(*flood_message(i))
    assert "real" in d.sessions and d.counters()["bad_input"] == 0
    assert set(d.snapshots()) <= {"real"} | set(d.sessions)
    assert not [name for name in d._saved if name.startswith("fake-")]

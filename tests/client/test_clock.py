"""gazewire.client.clock: NTP's on-wire offset and its bound, on probes made by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gazewire.client.clock import ClockOffset, Probe, best_offset


def probe(offset_ns: int, *, sent_ns: int = 10**18, there_ns: int, back_ns: int, busy_ns: int = 50_000) -> Probe:
    """A ping from a client whose clock is ``offset_ns`` behind the agent's: ``there_ns``
    on the way to the agent, ``busy_ns`` in it, ``back_ns`` on the way back."""
    agent_received = sent_ns + there_ns + offset_ns
    agent_sent = agent_received + busy_ns
    return Probe(sent_ns, agent_received, agent_sent, sent_ns + there_ns + busy_ns + back_ns)


def test_equal_ways_give_the_offset_exactly():
    measured = best_offset([probe(-250_000_000, there_ns=400_000, back_ns=400_000)])
    assert measured == ClockOffset(offset_ns=-250_000_000, round_trip_ns=800_000, probes=1,
                                   measured_ns=10**18 + 850_000)
    assert measured.to_agent_ns(10**18) == 10**18 - 250_000_000
    assert str(measured) == "-250.000 ms ± 0.400 ms (best of 1 probes)"


def test_the_probe_with_the_smallest_round_trip_is_kept():
    probes = [probe(7_000, there_ns=3_000_000, back_ns=100_000), probe(7_000, there_ns=200_000, back_ns=100_000),
              probe(7_000, there_ns=100_000, back_ns=2_000_000)]
    measured = best_offset(probes)
    assert measured.round_trip_ns == 300_000 and measured.probes == 3
    assert measured.offset_ns == 7_000 + 50_000  # off by half the difference of the two ways


@given(offset=st.integers(-10**12, 10**12), there=st.integers(0, 10**8), back=st.integers(0, 10**8),
       busy=st.integers(0, 10**7))
def test_the_error_is_never_more_than_half_the_round_trip(offset, there, back, busy):
    measured = best_offset([probe(offset, there_ns=there, back_ns=back, busy_ns=busy)])
    assert measured.round_trip_ns == there + back
    assert abs(measured.offset_ns - offset) <= measured.uncertainty_ns


def test_a_probe_spoilt_by_a_clock_step_is_skipped_and_none_is_an_error():
    stepped = Probe(1_000, 5_000, 9_000, 1_500)  # the agent's clock jumped ahead while it answered
    assert stepped.round_trip_ns < 0
    good = probe(0, there_ns=10, back_ns=10)
    assert best_offset([stepped, good]).round_trip_ns == 20
    with pytest.raises(ValueError, match="no usable clock probe among 1"):
        best_offset([stepped])

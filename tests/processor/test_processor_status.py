"""The processor's status warnings say what is wrong now, not what was (issue 9, item 9)."""

from __future__ import annotations

from gazewire.processor.outputs.sink import SinkReport
from gazewire.processor.status import warnings_from
from tests.processor.streams import batch_payloads, dispatcher, feed, simulated

BATCHES = batch_payloads(simulated(2, seed=6).samples, sizes=40)


def gap_warnings(d) -> list[str]:
    return [w for w in warnings_from(d.counters(), SinkReport("lineprotocol", "x"), None) if "never arrived" in w]


def test_the_gap_warning_goes_once_the_late_batches_arrive():
    d = dispatcher()
    feed(d, BATCHES[:2] + BATCHES[4:])
    assert gap_warnings(d) == ["80 samples never arrived (gaps in batch numbers)"]
    feed(d, BATCHES[2:3])  # the agent sends one again: late, stored
    assert gap_warnings(d) == ["40 samples never arrived (gaps in batch numbers)"]
    feed(d, BATCHES[3:4])
    assert gap_warnings(d) == [] and d.counters()["late_samples"] == 80

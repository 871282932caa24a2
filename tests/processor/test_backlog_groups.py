"""How the processing thread takes its groups of messages: live traffic as it comes, a backlog
in groups that grow (twice the last one, up to the limit) so the per-group costs are shared."""

from __future__ import annotations

import queue

from gazewire.processor.config import ProcessorSettings
from gazewire.processor.inputs.link import Delivery
from gazewire.processor.runtime import BACKLOG_GROUP, Processor


def deliveries(n: int) -> queue.SimpleQueue:
    waiting: queue.SimpleQueue = queue.SimpleQueue()
    for mid in range(1, n + 1):
        waiting.put(Delivery(f"lab/s{mid}/gaze/batch", b"{}", False, 1, mid, 0))
    return waiting


def processor(tmp_path) -> Processor:
    return Processor(ProcessorSettings(processor_id="groups", data_dir=tmp_path))


def test_live_traffic_takes_what_waits(tmp_path):
    p = processor(tmp_path)
    waiting = deliveries(3)
    assert [d.mid for d in p._take(waiting, timeout_s=1.0, most=500)] == [1, 2, 3]
    assert p._last_group == 3


def test_a_backlog_takes_twice_the_last_group_and_leaves_the_rest_waiting(tmp_path):
    p = processor(tmp_path)
    p._last_group = BACKLOG_GROUP
    waiting = deliveries(5 * BACKLOG_GROUP)
    first = p._take(waiting, timeout_s=1.0, most=500)
    assert [d.mid for d in first] == list(range(1, 5 * BACKLOG_GROUP + 1))  # all that waits: more than twice
    p._last_group = BACKLOG_GROUP
    waiting = deliveries(BACKLOG_GROUP)
    p._take(waiting, timeout_s=1.0, most=500)  # fewer than twice the last: it waits its linger, no more
    assert p._last_group == BACKLOG_GROUP and waiting.empty()
    p._last_group = 100
    waiting = deliveries(500)
    assert len(p._take(waiting, timeout_s=1.0, most=150)) == 150  # the group limit holds
    assert waiting.qsize() == 350


def test_a_shutdown_during_the_wait_takes_nothing(tmp_path):
    p = processor(tmp_path)
    p._last_group = BACKLOG_GROUP
    waiting = deliveries(2)
    waiting.put(None)  # what request_shutdown puts
    p._shutdown.set()
    assert p._take(waiting, timeout_s=1.0, most=500) == []  # not handled: the broker sends them again

"""Points written to a real server through InfluxDB 2.x's ``/api/v2/write``: an
InfluxDB 2.7 container when a Docker daemon answers, else VictoriaMetrics as a
write-compatible server (see tests/support/influx.py; on this project's CI there
is no Docker daemon, so these run against VictoriaMetrics). Read back and
compared with what was sent; an outage of the server in the middle.
"""

from __future__ import annotations

import uuid

import pytest

from gazewire.processor.config import InfluxSettings
from tests.support.influx import wait_for_series, wait_until
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker


def influx_settings(server, **overrides) -> dict:
    return {
        "url": server.url,
        "org": server.org,
        "bucket": server.bucket,
        "token": server.token,
        "flush_interval_s": 0.1,
        "retry_min_s": 0.05,
        "retry_max_s": 0.3,
        "timeout_s": 2.0,
        **overrides,
    }


def by_time(series, resolution_us: int) -> dict[int, list[float]]:
    values: dict[int, list[float]] = {}
    for points in series.values():
        for time_us, value in points:
            values.setdefault(time_us // resolution_us, []).append(value)
    return values


def test_points_written_to_influxdb_or_victoriametrics_through_the_v2_write_api_read_back_equal(
    broker, lab_devices, start_processor, start_inprocess_agent, time_series_server
):
    server = time_series_server
    session = "tsdb-" + uuid.uuid4().hex[:6]
    lab = LabDevice(broker.host, broker.port, [f"lab/{session}/gaze/batch"])
    lab_devices.append(lab)
    processor = start_processor(influx=InfluxSettings(**influx_settings(server)), alerts={"long_fixation_s": 0.3})
    samples = 120 * 10  # 120 Hz: samples 8.3 ms apart, distinct even at VictoriaMetrics' 1 ms
    agent = start_inprocess_agent(session, seed=8, limit=samples, speed=5.0)
    agent.wait_finished()
    processor.wait_for(lambda: processor.counters()["samples"] >= samples, what="all samples processed")
    lab.wait_for(lambda ms: len({m.payload for m in ms}) == processor.counters()["batches"], what="every batch seen")
    some = lab.messages[3]
    lab.publish(some.topic, some.payload)  # a duplicate: must not be stored twice
    processor.wait_for(lambda: processor.counters()["duplicate_batches"] == 1, what="the duplicate dropped")
    processor.wait_for(lambda: processor.processor.feed.caught_up, what="the sink to catch up with the journal")

    from gazewire.wire.messages import GazeBatch

    sent = {}
    for message in {m.payload: m for m in lab.messages}.values():
        batch = GazeBatch.model_validate_json(message.payload)
        for seq, utc, x in zip(batch.columns.seq, batch.columns.utc_us, batch.columns.x):
            sent[utc // server.time_resolution_us] = (seq, x)
    assert len(sent) == samples
    seq_series = wait_for_series(server, "gaze", "seq", lambda s: sum(map(len, s.values())) >= samples)
    assert list(seq_series) == [(("device", "SIM-000008"), ("session", session))]
    stored_seq = by_time(seq_series, server.time_resolution_us)
    assert {t: [float(seq)] for t, (seq, _) in sent.items()} == stored_seq, "every sample once, at its time"
    stored_x = by_time(server.series("gaze", "x"), server.time_resolution_us)
    expected_x = {t: x for t, (_, x) in sent.items() if x is not None}
    assert set(stored_x) == set(expected_x)
    for t, x in expected_x.items():
        assert stored_x[t] == [pytest.approx(x, rel=server.relative_precision, abs=0)]

    ends = [f for f in processor.of("fixations") if f.event == "end"]
    durations = by_time(wait_for_series(server, "fixation", "duration_ms", lambda s: sum(map(len, s.values())) >= len(ends)),
                        server.time_resolution_us)
    assert durations == {
        e.start_utc_us // server.time_resolution_us: [pytest.approx(e.duration_ms, rel=server.relative_precision, abs=0)]
        for e in ends
    }
    alerts = processor.of("alerts")
    active = wait_for_series(server, "alert", "active", lambda s: sum(map(len, s.values())) >= len(alerts))
    assert sum(map(len, active.values())) == len(alerts) > 0
    assert processor.counters()["points_dropped"] == 0 and processor.counters()["points_rejected"] == 0


def test_server_outage_alerts_go_on_the_journal_keeps_every_point_and_the_sink_catches_up_once(
    broker, start_processor, start_inprocess_agent, time_series_server
):
    server = time_series_server
    session = "outage-" + uuid.uuid4().hex[:6]
    processor = start_processor(
        influx=InfluxSettings(**influx_settings(server, batch_points=500)), alerts={"long_fixation_s": 0.25},
    )
    agent = start_inprocess_agent(session, seed=9, speed=8.0)  # ~960 samples (points) a second
    processor.wait_for(lambda: processor.counters()["points_written"] > 500, what="first points written")

    server.stop()
    processor.wait_for(lambda: processor.counters()["records_behind"] > 20, timeout_s=30,
                       what="records waiting in the journal during the outage")
    alerts_during = len(processor.of("alerts"))
    processor.wait_for(lambda: len(processor.of("alerts")) > alerts_during + 1, what="alerts during the outage")
    status = processor.processor.current_status()
    assert status.sink["state"] == "unreachable" and status.sink["records_behind"] > 20
    assert status.journal is not None and status.journal["state"] == "ok"

    server.start()
    agent.stop()
    processor.wait_for(lambda: processor.processor.feed.caught_up, timeout_s=30, what="the backlog written")
    assert processor.processor.current_status().sink["state"] == "ok"
    counters = processor.counters()
    assert counters["points_rejected"] == 0 and counters["points_dropped"] == 0

    # every point stored exactly once: VictoriaMetrics keeps a point written twice twice
    def stored_points():
        counts = {
            (measurement, field): sum(map(len, server.series(measurement, field).values()))
            for measurement, field in KEY_FIELDS
        }
        return counts if sum(counts.values()) >= counters["points_written"] else None

    stored = wait_until(stored_points, what=f"{counters['points_written']} points readable")
    assert stored[("gaze", "seq")] == counters["samples"]
    seqs = sorted(t for points in server.series("gaze", "seq").values() for t, _ in points)
    assert len(seqs) == len(set(seqs)) == counters["samples"], "every sample once"


KEY_FIELDS = [("gaze", "seq"), ("fixation", "number"), ("saccade", "number"), ("pursuit", "number"),
              ("blink", "number"), ("alert", "active"), ("agent_status", "state_code"), ("aoi_visit", "fixations"),
              ("marker", "name")]


def test_the_outage_check_counts_every_measurement_the_processor_writes():
    from gazewire.processor.outputs.measurements import MEASUREMENTS

    assert {name for name, _ in KEY_FIELDS} == {m.name for m in MEASUREMENTS}

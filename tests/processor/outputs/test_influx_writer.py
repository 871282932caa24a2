"""The InfluxDB writer's buffering, retries, outage logging, overflow and shutdown
spill, with a stand-in for the HTTP write (the real server: test_time_series_server)."""

from __future__ import annotations

import logging
import threading

from gazewire.processor.config import InfluxSettings
from gazewire.processor.outputs.files import LineProtocolFiles
from gazewire.processor.outputs.influx import InfluxWriter, WriteRefused
from gazewire.processor.outputs.measurements import GAZE


class FakeServer:
    def __init__(self) -> None:
        self.up = True
        self.refuse_with: int | None = None
        self.lines: list[str] = []
        self.attempts = 0
        self.changed = threading.Condition()

    def write(self, body: str) -> None:
        with self.changed:
            self.attempts += 1
            self.changed.notify_all()
            if self.refuse_with is not None:
                raise WriteRefused(self.refuse_with, f"HTTP {self.refuse_with}: nope")
            if not self.up:
                raise WriteRefused(None, "ConnectionRefusedError: connection refused")
            self.lines += body.split("\n")
            self.changed.notify_all()

    def wait(self, predicate, timeout_s: float = 5.0) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout_s), "timed out"


def points(start: int, count: int):
    return [GAZE.point(start + i, {"session": "s", "device": "d"}, {"seq": start + i}) for i in range(count)]


def writer(server: FakeServer, tmp_path, **settings) -> InfluxWriter:
    config = InfluxSettings(
        url="http://influx.invalid:8086",
        **{"batch_points": 100, "flush_interval_s": 0.05, "retry_min_s": 0.01, "retry_max_s": 0.05, **settings},
    )
    w = InfluxWriter(config, spill=LineProtocolFiles(tmp_path / "spill"), write_lines=server.write)
    w.start()
    return w


def test_points_are_written_in_batches_and_in_order(tmp_path):
    server = FakeServer()
    w = writer(server, tmp_path)
    w.write(points(0, 250))
    server.wait(lambda: len(server.lines) == 250)
    assert server.lines == [p.line() for p in points(0, 250)]
    assert w.report().points_written == 250
    w.close(1.0)


def test_an_outage_buffers_logs_once_at_start_and_end_and_drops_only_the_oldest(tmp_path, caplog):
    server = FakeServer()
    w = writer(server, tmp_path, buffer_points=500)
    with caplog.at_level(logging.INFO, logger="gazewire.processor.outputs.influx"):
        server.up = False
        w.write(points(0, 300))
        server.wait(lambda: server.attempts >= 3)
        w.write(points(300, 400))  # 700 > 500: the 200 oldest go
        server.wait(lambda: server.attempts >= 6)
        report = w.report()
        assert (report.state, report.points_buffered, report.points_dropped) == ("unreachable", 500, 200)
        server.up = True
        server.wait(lambda: len(server.lines) == 500)
    assert server.lines == [p.line() for p in points(200, 500)]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "write failed" in messages[0] and "work again" in messages[1] and "200 dropped" in messages[1]
    report = w.report()
    assert (report.state, report.points_written, report.points_buffered) == ("ok", 500, 0)
    w.close(1.0)


def test_points_the_server_refuses_as_invalid_are_counted_not_retried(tmp_path):
    server = FakeServer()
    server.refuse_with = 400
    w = writer(server, tmp_path)
    w.write(points(0, 50))
    server.wait(lambda: server.attempts == 1)
    server.refuse_with = None
    w.write(points(50, 10))
    server.wait(lambda: len(server.lines) == 10)
    report = w.report()
    assert (report.points_rejected, report.points_written) == (50, 10)
    w.close(1.0)


def test_what_cannot_be_written_at_shutdown_is_spilled_to_line_protocol_files(tmp_path):
    server = FakeServer()
    server.up = False
    w = writer(server, tmp_path)
    w.write(points(0, 42))
    server.wait(lambda: server.attempts >= 1)
    w.close(0.2)
    report = w.report()
    assert (report.points_spilled, report.points_dropped, report.points_buffered) == (42, 0, 0)
    spilled = (tmp_path / "spill" / "s" / "1970-01-01.lp").read_text().splitlines()
    assert spilled == [p.line() for p in points(0, 42)]

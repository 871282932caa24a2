"""The processor's retained status message and its last will."""

from __future__ import annotations

import socket
from typing import Any

from gazewire import __version__
from gazewire.wire.messages import ProcessorStatus
from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us
from gazewire.processor.outputs.sink import SinkReport


def build_status(
    *,
    processor_id: str,
    algorithm: str,
    counters: dict[str, int],
    sessions: dict[str, dict[str, Any]],
    sink: SinkReport,
    warnings: list[str],
    state: str = "online",
    status_interval_s: float | None = None,
) -> ProcessorStatus:
    return ProcessorStatus(
        processor=processor_id,
        state=state,  # type: ignore[arg-type]
        utc=iso_from_utc_us(utc_now_us()),
        version=__version__,
        host=socket.gethostname(),
        algorithm=algorithm,
        counters=counters,
        sessions=sessions,
        sink=sink.as_dict(),
        warnings=warnings,
        status_interval_s=status_interval_s,
    )


def last_will(processor_id: str, algorithm: str) -> ProcessorStatus:
    """The retained ``offline`` status the broker publishes if the processor vanishes."""
    return ProcessorStatus(
        processor=processor_id,
        state="offline",
        utc=None,
        version=__version__,
        host=socket.gethostname(),
        algorithm=algorithm,
        warnings=["connection lost without a clean disconnect (last will)"],
    )


def warnings_from(counters: dict[str, int], sink: SinkReport, link_error: str | None) -> list[str]:
    """One line per thing a person should look at."""
    found = []
    if counters.get("bad_input"):
        found.append(f"{counters['bad_input']} messages refused as bad input (see counters bad_input_*)")
    outstanding = counters.get("missing_samples", 0) - counters.get("late_samples", 0)
    if outstanding > 0:  # a batch that comes late after all (an agent sending it again) is no longer missing
        found.append(f"{outstanding} samples never arrived (gaps in batch numbers)")
    if sink.points_dropped:
        found.append(f"{sink.points_dropped} points dropped by the {sink.kind} sink")
    if sink.points_rejected:
        found.append(f"{sink.points_rejected} points refused by InfluxDB as invalid")
    if sink.state != "ok" and sink.last_error:
        found.append(f"{sink.kind} sink {sink.state}: {sink.last_error}")
    if link_error:
        found.append(f"broker: {link_error}")
    return found

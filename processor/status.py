"""The processor's retained status message and its last will."""

from __future__ import annotations

import socket
from typing import Any

from gazewire import __version__
from gazewire.wire.messages import ProcessorStatus
from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us
from gazewire.processor.outputs.sink import SinkReport


def serving(settings: Any) -> dict[str, Any]:
    """The status fields that say which sessions a processor takes (ProcessorSettings in)."""
    return {
        "shard": settings.shard,
        "serves_sessions": list(settings.sessions) or None,
        "shared_group": settings.shared_group,
    }


def build_status(
    *,
    processor_id: str,
    algorithm: str,
    serving: dict[str, Any] | None = None,
    counters: dict[str, int],
    sessions: dict[str, dict[str, Any]],
    sink: SinkReport,
    warnings: list[str],
    state: str = "online",
    journal: dict[str, Any] | None = None,
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
        journal=journal,
        warnings=warnings,
        status_interval_s=status_interval_s,
        **(serving or {}),
    )


def last_will(processor_id: str, algorithm: str, serving: dict[str, Any] | None = None) -> ProcessorStatus:
    """The retained ``offline`` status the broker publishes if the processor vanishes."""
    return ProcessorStatus(
        **(serving or {}),
        processor=processor_id,
        state="offline",
        utc=None,
        version=__version__,
        host=socket.gethostname(),
        algorithm=algorithm,
        warnings=["connection lost without a clean disconnect (last will)"],
    )


def warnings_from(
    counters: dict[str, int], sink: SinkReport, link_error: str | None, journal: dict[str, Any] | None = None
) -> list[str]:
    """One line per thing a person should look at."""
    found = []
    if journal is not None and journal.get("state") not in (None, "ok"):
        found.append(
            f"JOURNAL {str(journal['state']).upper()}: {journal.get('last_error')}; "
            f"{journal.get('unacknowledged', 0)} messages held unacknowledged, no new data is taken "
            "(the broker and the agents keep it) until the journal can be written"
        )
    if journal is not None and journal.get("evicted_samples"):
        found.append(
            f"journal retention evicted {journal['evicted_samples']} samples "
            f"({journal.get('evicted_batches', 0)} batches; {journal.get('evicted_unsent', 0)} records before a sink had them)"
        )
    if journal is not None and journal.get("corrupt_records"):
        found.append(f"{journal['corrupt_records']} damaged journal records were dropped")
    if counters.get("bad_input"):
        found.append(f"{counters['bad_input']} messages refused as bad input (see counters bad_input_*)")
    outstanding = counters.get("missing_samples", 0) - counters.get("late_samples", 0)
    if outstanding > 0:  # a batch that comes late after all (an agent sending it again) is no longer missing
        found.append(f"{outstanding} samples never arrived (gaps in batch numbers)")
    if sink.points_dropped:
        found.append(f"{sink.points_dropped} points dropped by the {sink.kind} sink (no journal)")
    if sink.points_rejected:
        found.append(f"{sink.points_rejected} points refused by InfluxDB as invalid")
    if sink.state != "ok" and sink.last_error:
        found.append(f"{sink.kind} sink {sink.state}: {sink.last_error}")
    if link_error:
        found.append(f"broker: {link_error}")
    return found

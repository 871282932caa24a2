"""Where points go: what both sinks (InfluxDB, line-protocol files) offer the journal
feed (:mod:`gazewire.processor.journal.feed`), which decides what to write when,
retries, and keeps each sink's checkpoint.

A sink writes one slice of line-protocol lines at a time, synchronously, and either
takes all of it or raises: :class:`SinkUnavailable` (try again later: the server is
down, the disk is full) or :class:`SinkRejected` (the server refuses these points as
invalid; trying again would not help).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from gazewire.errors import GazewireError

Entry = tuple[str, "str | None", int]  # (line, session, time_us): a point encoded, and where it goes


class SinkUnavailable(GazewireError):
    """The sink cannot take points now (server unreachable, 5xx, disk full); retry later."""


class SinkRejected(GazewireError):
    """The sink refuses these points as invalid; they are counted, not retried."""


@dataclass
class SinkReport:
    """What a sink did, for the processor status.

    With the journal (the default), every stored point is written or rejected, never
    dropped: ``records_behind`` counts journal records the sink has still to write
    (an outage of any length the disk allows is caught up from the journal), and
    ``checkpoint`` is the journal position it has written up to. Without the journal,
    points wait in a bounded memory buffer and ``points_dropped`` counts those lost.
    """

    kind: str
    target: str
    state: str = "ok"  # ok, unreachable, failing
    points_written: int = 0
    points_rejected: int = 0
    points_dropped: int = 0
    records_behind: int = 0
    checkpoint: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sink(Protocol):
    name: str  # its checkpoint's name in the journal: "influx", "lineprotocol"
    kind: str
    target: str

    def start(self) -> None: ...

    def intent(self, entries: Sequence[Entry]) -> str | None:
        """What to note in the checkpoint before writing ``entries`` (to undo a torn write), or None."""

    def recover(self, intent: str) -> None:
        """Undo a write that may have been torn by a crash, from the intent noted before it."""

    def write(self, entries: Sequence[Entry]) -> None:
        """Write every entry or raise SinkUnavailable / SinkRejected."""

    def close(self) -> None: ...

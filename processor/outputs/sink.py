"""Where points go: the interface both sinks (InfluxDB, line-protocol files) offer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from gazewire.processor.outputs.lineprotocol import Point


@dataclass
class SinkReport:
    """What a sink did, for the processor status. Every point is in exactly one of
    written, buffered (waiting), dropped (buffer overflow, unwritable), rejected
    (refused by the server as invalid) or spilled (written to a file at shutdown
    because the server was unreachable)."""

    kind: str
    target: str
    state: str = "ok"  # ok, unreachable, failing
    points_written: int = 0
    points_buffered: int = 0
    points_dropped: int = 0
    points_rejected: int = 0
    points_spilled: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sink(Protocol):
    def start(self) -> None: ...

    def write(self, points: Sequence[Point]) -> None:
        """Take points; must not block on the network."""

    def close(self, timeout_s: float) -> None:
        """Write what is pending (up to ``timeout_s``) and release resources."""

    def report(self) -> SinkReport: ...

"""The live view's throttle: at most ``publish_hz`` messages a second, each
carrying the latest valid combined sample.

Pure: the caller passes the time, so the rule can be tested without clocks.
Two live messages are never closer than ``1 / publish_hz`` seconds, hence any
one-second window holds at most ``publish_hz`` of them.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class LiveThrottle(Generic[T]):
    def __init__(self, publish_hz: float) -> None:
        if not publish_hz > 0:
            raise ValueError(f"publish_hz must be > 0, got {publish_hz}")
        self.interval_s = 1.0 / publish_hz
        self._latest: T | None = None
        self._samples_since_sent = 0
        self._last_sent_s: float | None = None

    def offer(self, item: T, *, valid: bool) -> None:
        """Every sample passes here; only valid ones can become the live message."""
        self._samples_since_sent += 1
        if valid:
            self._latest = item

    def offer_run(self, count: int, latest_valid: T | None) -> None:
        """A run of ``count`` samples at once; ``latest_valid`` is its last valid one
        (None: none in the run was valid). The same as offering each in turn."""
        self._samples_since_sent += count
        if latest_valid is not None:
            self._latest = latest_valid

    def next_allowed_s(self) -> float | None:
        """When :meth:`take` would next succeed; None while nothing valid waits."""
        if self._latest is None:
            return None
        return 0.0 if self._last_sent_s is None else self._last_sent_s + self.interval_s

    def take(self, now_s: float) -> tuple[T, int] | None:
        """The item to publish now and the samples it stands for, or None
        (nothing new and valid, or too soon after the previous message)."""
        if self._latest is None:
            return None
        if self._last_sent_s is not None and now_s - self._last_sent_s < self.interval_s:
            return None
        item, count = self._latest, self._samples_since_sent
        self._latest, self._samples_since_sent = None, 0
        self._last_sent_s = now_s
        return item, count

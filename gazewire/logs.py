"""Logging set-up for the command line: one readable line per event."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paho's own chatter only when debugging
    logging.getLogger("gazewire.mqtt.paho").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


class RateLimitedLog:
    """At most one line per key every ``interval_s``; the next line that gets
    through says how many were left out. For what outsiders can provoke at
    will (bad commands, bad payloads): counted in status, never a log flood."""

    def __init__(
        self, logger: logging.Logger, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``key`` was logged less than
        ``interval_s`` ago; True if it was logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._left_out[key] = self._left_out.get(key, 0) + 1
            return False
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        if left_out:
            message += f" ({left_out} more since the last report)"
        self.logger.log(level, message, *args)
        return True

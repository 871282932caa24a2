"""Logging set-up for the command line: one readable line per event."""

from __future__ import annotations

import logging
import sys


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

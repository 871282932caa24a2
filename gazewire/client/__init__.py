"""The client library: what an experiment script, a notebook or a tool uses to
talk to gazewire's agents and processors over the lab broker.

::

    from gazewire.client import Lab

    with Lab("lab-server", username="stimulus-pc", password=secret) as lab:
        room = lab.session("room1")
        recording = room.start_recording(participant="P07")
        room.marker("stimulus_on")
        room.stop_recording()

* :class:`Lab` (:mod:`gazewire.client.lab`): the connection; ``sessions()``,
  ``session(id)`` -> :class:`Session`: recordings, markers, status,
  ``wait_for``, ``clock_offset``, live ``gaze()``, ``fixations()``, ``alerts()``.
* :class:`AsyncLab` (:mod:`gazewire.client.aio`): the same for asyncio.
* :class:`LabData` (:mod:`gazewire.client.data`): recorded data as pandas
  DataFrames from the lab server's HTTP API (the ``pandas`` extra); also
  ``Lab(..., api=URL, api_token=TOKEN).recording(id).gaze()``.
* What they return: :class:`Recording`, :class:`SessionInfo`,
  :class:`ClockOffset`, :class:`Stream`, and the wire contract's messages
  (:mod:`gazewire.wire.messages`).
* The pieces underneath, for tools: :class:`BrokerConnection`,
  :func:`read_statuses`, :class:`ClientSettings` (``GAZEWIRE_*`` settings).

Built only on paho-mqtt and the wire contract (pydantic); it imports neither
the agent, the processor nor the command line, and loads its parts on first
use, so ``import gazewire.client`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gazewire.client.aio import AsyncLab, AsyncSession
    from gazewire.client.clock import ClockOffset
    from gazewire.client.connection import BrokerConnection, Received
    from gazewire.client.data import LabData, RecordingData
    from gazewire.client.info import Recording, SessionInfo
    from gazewire.client.lab import Lab, Session
    from gazewire.client.settings import ClientSettings
    from gazewire.client.statuses import Statuses, parse_status, read_statuses
    from gazewire.client.streams import AsyncStream, Stream

# name -> the module that defines it, imported on first use (PEP 562)
_LAZY = {
    "Lab": "gazewire.client.lab",
    "Session": "gazewire.client.lab",
    "AsyncLab": "gazewire.client.aio",
    "AsyncSession": "gazewire.client.aio",
    "Recording": "gazewire.client.info",
    "SessionInfo": "gazewire.client.info",
    "ClockOffset": "gazewire.client.clock",
    "LabData": "gazewire.client.data",
    "RecordingData": "gazewire.client.data",
    "Stream": "gazewire.client.streams",
    "AsyncStream": "gazewire.client.streams",
    "BrokerConnection": "gazewire.client.connection",
    "Received": "gazewire.client.connection",
    "ClientSettings": "gazewire.client.settings",
    "Statuses": "gazewire.client.statuses",
    "parse_status": "gazewire.client.statuses",
    "read_statuses": "gazewire.client.statuses",
}

__all__ = [
    "Lab", "Session", "AsyncLab", "AsyncSession", "Recording", "SessionInfo", "ClockOffset", "Stream",
    "AsyncStream", "LabData", "RecordingData", "BrokerConnection", "Received", "ClientSettings", "Statuses",
    "parse_status", "read_statuses",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gazewire.client' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

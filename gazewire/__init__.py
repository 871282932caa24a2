"""gazewire: Tobii Pro eye trackers on the lab network.

What a user imports from here::

    import gazewire

    gazewire.__version__
    gazewire.Lab, gazewire.AsyncLab                         # the client library (experiment scripts)
    gazewire.Session, gazewire.Recording, gazewire.ClockOffset   # what a Lab hands back
    gazewire.AgentSettings, gazewire.ProcessorSettings      # the settings of each program
    gazewire.GazewireError                                  # the root of every gazewire error
    gazewire.SettingsError, gazewire.AgentNotResponding, ...  # the error classes (gazewire.errors)

The package's parts: ``gazewire.wire`` (the wire contract: topics, messages,
JSON Schema), ``gazewire.agent`` (the edge agent on a tracker PC),
``gazewire.processor`` (the lab server's processor), ``gazewire.client`` (the
client library: ``Lab``, its sessions, recordings, markers, clock offset, live
streams; docs/experiments.md) and ``gazewire.cli`` (the ``gazewire`` command).

``import gazewire`` is cheap: the client and the settings classes (paho,
pydantic) load on first use, so the standard-library-only tools (``python -m
gazewire.cli.users``) run on a lab server without the third-party packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gazewire.errors import (
    AgentNotResponding,
    AlreadyRecording,
    BrokerError,
    BrokerRefused,
    BrokerUnreachable,
    ClientClosed,
    ClientError,
    ClockSyncFailed,
    CommandRefused,
    GazewireError,
    InvalidArgument,
    InvalidCommand,
    InvalidPayload,
    InvalidSessionId,
    InvalidTopic,
    NotAuthorized,
    NotRecording,
    SettingsError,
    UnknownSession,
    UnsupportedByAgent,
    WaitTimeout,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gazewire.agent.config import AgentSettings
    from gazewire.client.aio import AsyncLab
    from gazewire.client.clock import ClockOffset
    from gazewire.client.info import Recording
    from gazewire.client.lab import Lab, Session
    from gazewire.processor.config import ProcessorSettings

# Loaded on first use (module __getattr__, PEP 562): name -> module that defines it.
_LAZY = {
    "Lab": "gazewire.client.lab",
    "Session": "gazewire.client.lab",
    "AsyncLab": "gazewire.client.aio",
    "Recording": "gazewire.client.info",
    "ClockOffset": "gazewire.client.clock",
    "AgentSettings": "gazewire.agent.config",
    "ProcessorSettings": "gazewire.processor.config",
}

__all__ = [
    "__version__",
    "Lab",
    "Session",
    "AsyncLab",
    "Recording",
    "ClockOffset",
    "AgentSettings",
    "ProcessorSettings",
    "GazewireError",
    "SettingsError",
    "InvalidSessionId",
    "InvalidTopic",
    "InvalidPayload",
    "InvalidCommand",
    "BrokerError",
    "BrokerUnreachable",
    "BrokerRefused",
    "NotAuthorized",
    "InvalidArgument",
    "ClientError",
    "ClientClosed",
    "AgentNotResponding",
    "CommandRefused",
    "AlreadyRecording",
    "NotRecording",
    "UnknownSession",
    "WaitTimeout",
    "UnsupportedByAgent",
    "ClockSyncFailed",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gazewire' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

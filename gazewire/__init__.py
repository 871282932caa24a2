"""gazewire: Tobii Pro eye trackers on the lab network.

What a user imports from here::

    import gazewire

    gazewire.__version__
    gazewire.AgentSettings, gazewire.ProcessorSettings      # the settings of each program
    gazewire.GazewireError                                  # the root of every gazewire error
    gazewire.SettingsError, gazewire.InvalidSessionId, ...  # the error classes (gazewire.errors)

The package's parts: ``gazewire.wire`` (the wire contract: topics, messages,
JSON Schema), ``gazewire.agent`` (the edge agent on a tracker PC),
``gazewire.processor`` (the lab server's processor), ``gazewire.client`` (what
a lab client needs to talk to them; the client library grows here) and
``gazewire.cli`` (the ``gazewire`` command).

``import gazewire`` is cheap: the settings classes (pydantic) load on first
use, so the standard-library-only tools (``python -m gazewire.cli.users``) run
on a lab server without the third-party packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gazewire.errors import (
    BrokerError,
    BrokerRefused,
    BrokerUnreachable,
    GazewireError,
    InvalidCommand,
    InvalidPayload,
    InvalidSessionId,
    InvalidTopic,
    SettingsError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gazewire.agent.config import AgentSettings
    from gazewire.processor.config import ProcessorSettings

# Loaded on first use (module __getattr__, PEP 562): name -> module that defines it.
_LAZY = {
    "AgentSettings": "gazewire.agent.config",
    "ProcessorSettings": "gazewire.processor.config",
}

__all__ = [
    "__version__",
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

"""The settings of a plain lab client: which broker, which topic prefix.

A lab client (an experiment script, ``gazewire send``, ``gazewire status``)
publishes no gaze and runs no pipeline; it needs only to reach the broker and
to know the deployment's topic prefix. Read like every gazewire setting:
flags, ``GAZEWIRE_*`` environment variables, ``.env``, a TOML file.
"""

from __future__ import annotations

from pydantic import Field

from gazewire.mqtt import MqttSettings
from gazewire.settings import GazewireSettings
from gazewire.wire.topics import DEFAULT_PREFIX


class ClientSettings(GazewireSettings):
    """What a plain lab client needs: the broker and the topic prefix."""

    topic_prefix: str = Field(DEFAULT_PREFIX)
    log_level: str = Field("WARNING")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

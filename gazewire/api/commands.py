"""Starting, stopping and annotating recordings: the agent's commands, sent with
the client library (:class:`gazewire.client.aio.AsyncLab`), so the API checks
and sends them exactly as an experiment script does and gets the same answers
(the agent's reply, or one precise error).

The connection to the broker is made on the first command, not at start (reading
the archive needs no broker), and made again on the next command after it failed.
A recording is found by its id among the agents' retained statuses (each names
the recording it runs) and among the recordings this API started.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from gazewire.api.errors import ApiError
from gazewire.client import commands as checks
from gazewire.client.aio import AsyncLab
from gazewire.client.info import Recording
from gazewire.errors import BrokerError
from gazewire.wire.topics import validate_session_level

log = logging.getLogger("gazewire.api")

REMEMBERED = 1000  # recordings this API started, remembered to find their session


class Commands:
    """The agents' recording commands, through the lab broker."""

    def __init__(self, settings: Any) -> None:  # settings: ApiSettings
        self.mqtt = settings.mqtt
        self.prefix = settings.topic_prefix
        self.timeout_s = settings.api.command_timeout_s
        self._lab: AsyncLab | None = None
        self._lock = asyncio.Lock()
        self._started: dict[str, str] = {}  # recording id -> session

    async def lab(self) -> AsyncLab:
        async with self._lock:
            if self._lab is None or self._lab.closed:
                lab = AsyncLab(self.mqtt.host, mqtt=self.mqtt, prefix=self.prefix, timeout=self.timeout_s,
                               client_id=self.mqtt.client_id or f"gazewire-api-{os.getpid()}")
                await lab.connect()
                self._lab = lab
            return self._lab

    async def close(self) -> None:
        if self._lab is not None:
            await self._lab.close()
            self._lab = None

    async def _forget_on_broker_error(self, error: BaseException) -> None:
        if isinstance(error, BrokerError) and self._lab is not None:
            lab, self._lab = self._lab, None
            await lab.close()

    # ------------------------------------------------------------------ the commands

    async def start(self, session: str, *, name: str | None, participant: str | None,
                    metadata: Mapping[str, str] | None) -> Recording:
        # checked by the client library's rules before the broker is asked (InvalidCommand: 422)
        validate_session_level(session)
        checks.start_command(name, participant, metadata)
        lab = await self.lab()
        try:
            recording = await lab.session(session).start_recording(name=name, participant=participant,
                                                                   metadata=metadata)
        except BrokerError as error:
            await self._forget_on_broker_error(error)
            raise
        self._remember(recording)
        return recording

    async def change(self, recording: str, *, stop: bool, metadata: Mapping[str, str] | None,
                     known_session: str | None) -> Recording:
        """Annotate (when ``metadata``) and then stop (when ``stop``) the running recording ``recording``."""
        if metadata:
            checks.annotate_command(metadata, recording)
        if stop:
            checks.stop_command(recording)
        lab = await self.lab()
        session = await self.session_running(recording) or known_session
        if session is None:
            raise ApiError(404, f"no recording {recording!r}: no agent runs it and the journal does not hold it")
        handle = lab.session(session)
        result: Recording | None = None
        try:
            if metadata:
                result = await handle.annotate(metadata, recording=recording)
            if stop:
                result = await handle.stop_recording(recording)
        except BrokerError as error:
            await self._forget_on_broker_error(error)
            raise
        assert result is not None
        return result

    async def session_running(self, recording: str) -> str | None:
        """The session whose agent runs ``recording`` (its retained status says so), or the
        one this API started it on."""
        lab = await self.lab()
        statuses = await lab.statuses()
        for session, status in statuses.agents.items():
            if status.recording is not None and status.recording.id == recording:
                return session
        return self._started.get(recording)

    def _remember(self, recording: Recording) -> None:
        self._started[recording.id] = recording.session
        while len(self._started) > REMEMBERED:
            self._started.pop(next(iter(self._started)))

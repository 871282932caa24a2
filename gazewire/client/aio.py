"""The client library for asyncio: the same verbs as :mod:`gazewire.client.lab`, awaited.

::

    from gazewire.client.aio import AsyncLab

    async with AsyncLab("lab-server", username="stimulus-pc", password=secret) as lab:
        room = lab.session("room1")
        await room.wait_for("tracking")
        offset = await room.clock_offset()
        recording = await room.start_recording(participant="P07")
        async for gaze in room.gaze():
            if gaze.x > 0.5:
                await room.marker("looked_right", apply_offset=True)
                break
        await room.stop_recording()

The connection runs on paho's thread as in the synchronous client (the same
:class:`~gazewire.client.core.LabCore`); its futures are awaited here, so the
outcomes and errors are the same, and an awaiting task can be cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from gazewire.client import commands
from gazewire.client.clock import ClockOffset, Probe
from gazewire.client.core import Clock, LabCore, Reply
from gazewire.client.info import Recording, SessionInfo
from gazewire.client.lab import DEFAULT_PROBES, DEFAULT_TIMEOUT_S, check_timeout, mqtt_settings
from gazewire.client.statuses import RETAINED_GRACE_S, Statuses
from gazewire.client.streams import DEFAULT_BUFFER, AsyncStream
from gazewire.errors import AgentNotResponding, BrokerUnreachable, ClientClosed, UnknownSession, WaitTimeout
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import Alert, AgentStatus, Command, CommandReply, FixationEvent, LiveGaze, Marker, WireModel
from gazewire.wire.topics import DEFAULT_PREFIX, Channel, Topics, validate_session_level

M = TypeVar("M", bound=WireModel)


class AsyncLab:
    """:class:`~gazewire.client.Lab` for asyncio; the same arguments. Connect
    with ``async with AsyncLab(...) as lab`` or ``await AsyncLab(...).connect()``."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_file: str | Path | None = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT_S,
        clock: Clock = time.time_ns,
        client_id: str | None = None,
        mqtt: MqttSettings | None = None,
    ) -> None:
        check_timeout(timeout)
        if mqtt is None:
            mqtt = mqtt_settings(host, port, username=username, password=password, tls=tls, ca_file=ca_file)
        self.timeout = timeout
        self._core = LabCore(mqtt, Topics(prefix), clock=clock, client_id=client_id)
        self._connected = False
        self._settled = False

    async def connect(self) -> AsyncLab:
        """Connect (BrokerUnreachable, BrokerRefused); returns the lab."""
        if not self._connected:
            try:
                await asyncio.to_thread(self._core.connect, self.timeout)
            except BaseException:
                self._core.close()
                raise
            self._connected = True
        return self

    async def close(self) -> None:
        await asyncio.to_thread(self._core.close)

    async def __aenter__(self) -> AsyncLab:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def prefix(self) -> str:
        return self._core.topics.prefix

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def closed(self) -> bool:
        return self._core.closed

    # ------------------------------------------------------------------ who is there

    async def statuses(self) -> Statuses:
        self._check_connected()
        if not self._settled:
            await asyncio.to_thread(self._core.board.wait_settled, grace_s=RETAINED_GRACE_S, limit_s=self.timeout)
            self._settled = True
        return self._core.board.snapshot()

    async def sessions(self) -> list[SessionInfo]:
        statuses = await self.statuses()
        now_us = self.clock() // 1000
        return [SessionInfo.from_status(name, status, now_us=now_us)
                for name, status in sorted(statuses.agents.items())]

    def session(self, session: str) -> AsyncSession:
        return AsyncSession(self, validate_session_level(session))

    # ------------------------------------------------------------------ every session at once

    def gaze(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[LiveGaze]:
        return self.stream(Channel.GAZE, LiveGaze, timeout=timeout, buffer=buffer)

    def fixations(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[FixationEvent]:
        return self.stream(Channel.FIXATIONS, FixationEvent, timeout=timeout, buffer=buffer)

    def alerts(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[Alert]:
        return self.stream(Channel.ALERTS, Alert, timeout=timeout, buffer=buffer)

    def markers(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[Marker]:
        return self.stream(Channel.EVENTS, Marker, timeout=timeout, buffer=buffer)

    def stream(self, channel: Channel, model: type[M], *, session: str | None = None, timeout: float | None = None,
               buffer: int = DEFAULT_BUFFER) -> AsyncStream[M]:
        """Messages of ``channel`` from one session or every session; subscribed
        when first awaited (``async for``, ``async with``, ``await stream.get()``)."""
        self._check_connected()
        topics = self._core.topics
        topic = topics.every_session(channel) if session is None else topics.for_session(session, channel)
        what = f"{Channel(channel).value} of " + ("every session" if session is None else f"session {session!r}")
        stream: AsyncStream[M] = AsyncStream(
            model, loop=asyncio.get_running_loop(), what=what, timeout_s=timeout, buffer=buffer,
            on_close=lambda: self._forget(topic, stream),
            start=lambda: self._wait(self._core.route(topic, stream.deliver,
                                                      qos=0 if channel is Channel.GAZE else 1), self.timeout),
        )
        self._core.when_closed(stream.close)
        return stream

    def _forget(self, topic: str, stream: AsyncStream) -> None:
        self._core.unroute(topic, stream.deliver)
        self._core.not_when_closed(stream.close)

    # ------------------------------------------------------------------ waiting

    def _check_connected(self) -> None:
        self._core.check_open()
        if not self._connected:
            raise ClientClosed() if self._core.closed else RuntimeError("AsyncLab: await lab.connect() first")

    async def _wait(self, future: Future, timeout_s: float) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except asyncio.TimeoutError:
            raise BrokerUnreachable(self._core.mqtt.host, self._core.mqtt.port, timeout_s) from None

    async def _ask(self, session: str, command: Command, timeout: float | None) -> tuple[int, Reply]:
        self._check_connected()
        timeout_s = self.timeout if timeout is None else check_timeout(timeout)
        deadline = time.monotonic() + timeout_s
        await self._wait(self._core.replies_subscribed(session), timeout_s)
        sent = self._core.send(session, command)
        try:
            reply = await asyncio.wait_for(asyncio.wrap_future(sent.reply), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            if not self._core.connection.connected:
                raise BrokerUnreachable(self._core.mqtt.host, self._core.mqtt.port, timeout_s) from None
            raise AgentNotResponding(session, command.command, timeout_s) from None
        finally:
            sent.reply.cancel()  # done already, or given up on: forget it
        return sent.sent_ns, reply


class AsyncSession:
    """:class:`~gazewire.client.Session` for asyncio: the same verbs, awaited."""

    def __init__(self, lab: AsyncLab, session: str) -> None:
        self.lab = lab
        self.id = session
        self.offset: ClockOffset | None = None

    def __repr__(self) -> str:
        return f"<AsyncSession {self.id!r}>"

    async def status(self) -> AgentStatus:
        status = (await self.lab.statuses()).agents.get(self.id)
        if status is None:
            raise UnknownSession(self.id, self.lab.prefix)
        return status

    async def wait_for(self, state: str | Iterable[str] | None = None, *,
                       condition: Callable[[AgentStatus], bool] | None = None,
                       timeout: float | None = None) -> AgentStatus:
        states = commands.check_states(state)
        timeout_s = self.lab.timeout if timeout is None else check_timeout(timeout)
        self.lab._check_connected()
        board = self.lab._core.board
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        stop = board.listen(lambda: loop.call_soon_threadsafe(changed.set))
        deadline = loop.time() + timeout_s
        try:
            while True:
                changed.clear()
                status = board.snapshot().agents.get(self.id)
                if status is not None and (states is None or status.state in states) \
                        and (condition is None or condition(status)):
                    return status
                try:
                    await asyncio.wait_for(changed.wait(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    wanted = " or ".join(sorted(states)) if states else "the condition"
                    raise WaitTimeout(f"session {self.id!r} to be {wanted}", timeout_s,
                                      f"last state: {status.state}" if status else "no status from its agent") from None
        finally:
            stop()

    async def start_recording(self, name: str | None = None, participant: str | None = None,
                              metadata: Mapping[str, Any] | None = None, *,
                              timeout: float | None = None) -> Recording:
        command = commands.start_command(name, participant, metadata)
        return commands.recording_of(self.id, await self._reply(command, timeout), command)

    async def stop_recording(self, recording: str | None = None, *, timeout: float | None = None) -> Recording:
        return commands.recording_of(self.id, await self._reply(commands.stop_command(recording), timeout))

    async def annotate(self, metadata: Mapping[str, Any], *, recording: str | None = None,
                       timeout: float | None = None) -> Recording:
        command = commands.annotate_command(metadata, recording)
        return commands.recording_of(self.id, await self._reply(command, timeout), command)

    async def marker(self, name: str, utc_ns: int | None = None, *, apply_offset: bool = False,
                     timeout: float | None = None, **fields: Any) -> Marker:
        """As :meth:`Session.marker <gazewire.client.Session.marker>`; for ``wait=False``
        make a task of it (``asyncio.create_task(room.marker(...))``)."""
        stamp = self.lab.clock() if utc_ns is None else utc_ns
        if apply_offset:
            stamp = (self.offset or await self.clock_offset()).to_agent_ns(stamp)
        command = commands.marker_command(name, stamp, fields)
        return commands.marker_of(self.id, await self._reply(command, timeout))

    async def clock_offset(self, probes: int = DEFAULT_PROBES, *, timeout: float | None = None) -> ClockOffset:
        commands.check_probes(probes)
        measured: list[Probe] = []
        for _ in range(probes):
            sent_ns, answer = await self.lab._ask(self.id, commands.build_command("ping"), timeout)
            measured.append(commands.probe_of(self.id, sent_ns, answer.reply, answer.received_ns))
        self.offset = commands.offset_of(self.id, measured)
        return self.offset

    async def ping(self, *, timeout: float | None = None) -> dict[str, Any]:
        return commands.result_of(self.id, await self._reply(commands.build_command("ping"), timeout))

    async def send(self, command: str, *, timeout: float | None = None, **fields: Any) -> CommandReply:
        return await self._reply(commands.build_command(command, **fields), timeout)

    def gaze(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[LiveGaze]:
        return self.lab.stream(Channel.GAZE, LiveGaze, session=self.id, timeout=timeout, buffer=buffer)

    def fixations(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[FixationEvent]:
        return self.lab.stream(Channel.FIXATIONS, FixationEvent, session=self.id, timeout=timeout, buffer=buffer)

    def alerts(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[Alert]:
        return self.lab.stream(Channel.ALERTS, Alert, session=self.id, timeout=timeout, buffer=buffer)

    def markers(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER) -> AsyncStream[Marker]:
        return self.lab.stream(Channel.EVENTS, Marker, session=self.id, timeout=timeout, buffer=buffer)

    async def _reply(self, command: Command, timeout: float | None) -> CommandReply:
        return (await self.lab._ask(self.id, command, timeout))[1].reply


__all__ = ["AsyncLab", "AsyncSession", "AsyncStream"]

"""The client library an experiment script uses: :class:`Lab` and its :class:`Session` handles.

::

    from gazewire.client import Lab

    with Lab("lab-server", username="stimulus-pc", password=secret) as lab:
        print(lab.sessions())                           # the stations and what they do
        room = lab.session("room1")
        room.wait_for("tracking")
        print("clock offset", room.clock_offset())      # this PC's clock against the agent's
        recording = room.start_recording(participant="P07", name="stroop")
        win.flip()
        room.marker("stimulus_on", apply_offset=True, trial=1)
        room.stop_recording()

Every call that asks an agent waits for its reply (``timeout``, default the
lab's) and either returns what the agent did or raises one precise error:
:class:`~gazewire.errors.AgentNotResponding`,
:class:`~gazewire.errors.CommandRefused` (and its kinds
:class:`~gazewire.errors.AlreadyRecording`,
:class:`~gazewire.errors.NotRecording`),
:class:`~gazewire.errors.BrokerUnreachable`,
:class:`~gazewire.errors.NotAuthorized`. Bad arguments are refused before
anything is sent (:class:`~gazewire.errors.InvalidCommand`,
:class:`~gazewire.errors.InvalidSessionId`,
:class:`~gazewire.errors.InvalidArgument`: ValueErrors).
:mod:`gazewire.client.aio` is the same for asyncio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from gazewire.client import commands
from gazewire.client.clock import ClockOffset, Probe
from gazewire.client.connection import settle
from gazewire.client.core import Clock, LabCore, Reply
from gazewire.client.info import Recording, SessionInfo
from gazewire.client.statuses import RETAINED_GRACE_S, Statuses
from gazewire.client.streams import DEFAULT_BUFFER, Stream
from gazewire.errors import (
    AgentNotResponding,
    BrokerUnreachable,
    InvalidArgument,
    UnknownSession,
    WaitTimeout,
)
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import Alert, AgentStatus, Command, CommandReply, FixationEvent, LiveGaze, Marker, WireModel
from gazewire.wire.topics import DEFAULT_PREFIX, Channel, Topics, validate_session_level

M = TypeVar("M", bound=WireModel)

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_PROBES = 10


def mqtt_settings(
    host: str, port: int | None, *, username: str | None, password: str | None, tls: bool,
    ca_file: str | Path | None,
) -> MqttSettings:
    """The broker settings of ``Lab(...)``'s arguments; InvalidArgument names a bad one."""
    from pydantic import ValidationError

    from gazewire.wire.messages import describe_validation_error

    try:
        return MqttSettings(
            host=host, port=port if port is not None else (8883 if tls else 1883), username=username,
            password=password, tls=tls, ca_file=ca_file,
        )
    except ValidationError as error:
        raise InvalidArgument(describe_validation_error(error).removeprefix("Value error, ")) from None


class Lab:
    """A connection to the lab's broker, for an experiment script or a tool.

    ``host``/``port``: the lab broker (``port`` defaults to 1883, 8883 with
    ``tls``); ``username``/``password``: a broker account (role operator to
    send commands, viewer to watch); ``tls`` with ``ca_file`` the lab's CA;
    ``prefix``: the deployment's topic prefix. ``timeout``: how long a call
    waits for the broker or an agent unless told otherwise. ``clock``: this
    computer's UTC clock in nanoseconds (markers are stamped with it).
    Connects at once (BrokerUnreachable, BrokerRefused); use it as a context
    manager, or call :meth:`close`. ``api``/``api_token``: the lab server's HTTP
    API (``http://lab-server:8000``) and a bearer token, for recorded data:
    ``lab.recording(id).gaze()`` is a DataFrame (:mod:`gazewire.client.data`).
    """

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
        api: str | None = None,
        api_token: str | None = None,
    ) -> None:
        check_timeout(timeout)
        if mqtt is None:
            mqtt = mqtt_settings(host, port, username=username, password=password, tls=tls, ca_file=ca_file)
        self.timeout = timeout
        self._api = (api, api_token)
        self._data: Any = None
        self._core = LabCore(mqtt, Topics(prefix), clock=clock, client_id=client_id)
        try:
            self._core.connect(timeout)
        except BaseException:
            self._core.close()
            raise
        self._settled = False

    @classmethod
    def from_settings(cls, settings: Any = None, **options: Any) -> Lab:
        """A Lab from gazewire's client settings (``GAZEWIRE_MQTT__HOST``, ...,
        a ``.env``, a TOML file: :class:`~gazewire.client.settings.ClientSettings`);
        without ``settings``, read them from the environment."""
        if settings is None:
            from gazewire.client.settings import ClientSettings
            from gazewire.settings import load_settings

            settings = load_settings(ClientSettings)
        return cls(settings.mqtt.host, mqtt=settings.mqtt, prefix=settings.topic_prefix, **options)

    # ------------------------------------------------------------------ who is there

    @property
    def prefix(self) -> str:
        return self._core.topics.prefix

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def closed(self) -> bool:
        return self._core.closed

    def statuses(self) -> Statuses:
        """Every agent's and processor's status the broker keeps (and the unreadable ones)."""
        self._core.check_open()
        if not self._settled:  # the retained burst after connecting: wait for it once
            self._core.board.wait_settled(grace_s=RETAINED_GRACE_S, limit_s=self.timeout)
            self._settled = True
        return self._core.board.snapshot()

    def sessions(self) -> list[SessionInfo]:
        """The stations on the lab network, by session id: state, tracker,
        recording, age of the status; ``stale`` when the status claims the agent
        is there but nobody has refreshed it for longer than its lifetime."""
        statuses = self.statuses()
        now_us = self.clock() // 1000
        return [SessionInfo.from_status(name, status, now_us=now_us)
                for name, status in sorted(statuses.agents.items())]

    def session(self, session: str) -> Session:
        """A handle on one station (its agent's session id); InvalidSessionId for a bad id.
        Nothing is sent until it is used."""
        return Session(self, validate_session_level(session))

    # ------------------------------------------------------------------ recorded data (the HTTP API)

    def recording(self, recording: str) -> Any:  # -> gazewire.client.data.RecordingData
        """A recording's data from the lab server's HTTP API: ``.gaze()``, ``.fixations()``,
        ``.markers()``, ``.alerts()`` as DataFrames, ``.info()``. Needs ``Lab(..., api=URL, api_token=...)``."""
        return self.data().recording(recording)

    def recordings(self, **filters: Any) -> list[dict[str, Any]]:
        """The recordings in the lab server's journal (``session=``, ``participant=``, ``since=``, ``until=``)."""
        return self.data().recordings(**filters)

    def data(self) -> Any:  # -> gazewire.client.data.LabData
        """The lab server's recorded data (:class:`~gazewire.client.data.LabData`)."""
        if self._data is None:
            url, token = self._api
            if url is None:
                raise InvalidArgument("recorded data come from the lab server's HTTP API: "
                                      "Lab(..., api='http://lab-server:8000', api_token=TOKEN)")
            from gazewire.client.data import LabData

            self._data = LabData(url, token, timeout=max(self.timeout, 60.0))
        return self._data

    # ------------------------------------------------------------------ every session at once

    def gaze(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
             callback: Callable[[LiveGaze], Any] | None = None) -> Stream[LiveGaze]:
        """Live gaze of every session (each message names its ``session``)."""
        return self.stream(Channel.GAZE, LiveGaze, timeout=timeout, buffer=buffer, callback=callback)

    def fixations(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
                  callback: Callable[[FixationEvent], Any] | None = None) -> Stream[FixationEvent]:
        """Fixation starts and ends of every session, from the processor."""
        return self.stream(Channel.FIXATIONS, FixationEvent, timeout=timeout, buffer=buffer, callback=callback)

    def alerts(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
               callback: Callable[[Alert], Any] | None = None) -> Stream[Alert]:
        """Alerts raised and cleared in every session, from the processor."""
        return self.stream(Channel.ALERTS, Alert, timeout=timeout, buffer=buffer, callback=callback)

    def markers(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
                callback: Callable[[Marker], Any] | None = None) -> Stream[Marker]:
        """Markers as the agents of every session took them."""
        return self.stream(Channel.EVENTS, Marker, timeout=timeout, buffer=buffer, callback=callback)

    def stream(self, channel: Channel, model: type[M], *, session: str | None = None, timeout: float | None = None,
               buffer: int = DEFAULT_BUFFER, callback: Callable[[M], Any] | None = None) -> Stream[M]:
        """Messages of ``channel`` parsed as ``model``, from one session or
        (``session=None``) every session. Subscribed when it returns."""
        topics = self._core.topics
        topic = topics.every_session(channel) if session is None else topics.for_session(session, channel)
        what = f"{Channel(channel).value} of " + ("every session" if session is None else f"session {session!r}")
        stream: Stream[M] = Stream(model, what=what, timeout_s=timeout, buffer=buffer, callback=callback,
                                   on_close=lambda: self._forget(topic, stream))
        subscribed = self._core.route(topic, stream.deliver, qos=0 if channel is Channel.GAZE else 1)
        self._core.when_closed(stream.close)
        try:
            self._wait(subscribed, self.timeout)
        except BaseException:
            stream.close()
            raise
        return stream

    def _forget(self, topic: str, stream: Stream) -> None:
        self._core.unroute(topic, stream.deliver)
        self._core.not_when_closed(stream.close)

    # ------------------------------------------------------------------ waiting

    def _wait(self, future: Future, timeout_s: float) -> Any:
        """A future's result within ``timeout_s``; BrokerUnreachable when the broker did not answer."""
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            raise BrokerUnreachable(self._core.mqtt.host, self._core.mqtt.port, timeout_s) from None

    def _ask(self, session: str, command: Command, timeout: float | None) -> tuple[int, Reply]:
        """Send ``command`` and wait for its reply: (when it was sent, the reply)."""
        timeout_s = self.timeout if timeout is None else check_timeout(timeout)
        deadline = time.monotonic() + timeout_s
        self._wait(self._core.replies_subscribed(session), timeout_s)
        sent = self._core.send(session, command)
        try:
            return sent.sent_ns, sent.reply.result(max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            sent.reply.cancel()
            if not self._core.connection.connected:
                raise BrokerUnreachable(self._core.mqtt.host, self._core.mqtt.port, timeout_s) from None
            raise AgentNotResponding(session, command.command, timeout_s) from None

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Disconnect. Streams end; calls still waiting raise ClientClosed."""
        self._core.close()
        if self._data is not None:
            self._data.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mqtt = self._core.mqtt
        state = "closed" if self._core.closed else "open"
        return f"<Lab {mqtt.host}:{mqtt.port} prefix {self.prefix!r} ({state})>"


class Session:
    """One station: its agent's session id. Made by :meth:`Lab.session`.

    ``offset`` is the last clock offset measured (:meth:`clock_offset`), used
    by ``marker(..., apply_offset=True)``.
    """

    def __init__(self, lab: Lab, session: str) -> None:
        self.lab = lab
        self.id = session
        self.offset: ClockOffset | None = None

    def __repr__(self) -> str:
        return f"<Session {self.id!r} on {self.lab!r}>"

    # ------------------------------------------------------------------ status

    def status(self) -> AgentStatus:
        """The agent's latest status (kept current by the broker); UnknownSession if it has none."""
        status = self.lab.statuses().agents.get(self.id)
        if status is None:
            raise UnknownSession(self.id, self.lab.prefix)
        return status

    def wait_for(self, state: str | Iterable[str] | None = None, *,
                 condition: Callable[[AgentStatus], bool] | None = None,
                 timeout: float | None = None) -> AgentStatus:
        """Wait until the agent's status is in ``state`` (one or several, e.g.
        ``"tracking"``) and ``condition(status)`` holds; return that status.
        WaitTimeout after ``timeout`` (default: the lab's), naming the last state."""
        states = commands.check_states(state)
        timeout_s = self.lab.timeout if timeout is None else check_timeout(timeout)

        def reached(statuses: Statuses) -> AgentStatus | None:
            status = statuses.agents.get(self.id)
            if status is None or (states is not None and status.state not in states):
                return None
            return status if condition is None or condition(status) else None

        self.lab._core.check_open()
        found = self.lab._core.board.wait_until(reached, timeout_s)
        if found is None:
            last = self.lab._core.board.snapshot().agents.get(self.id)
            wanted = " or ".join(sorted(states)) if states else "the condition"
            raise WaitTimeout(f"session {self.id!r} to be {wanted}", timeout_s,
                              f"last state: {last.state}" if last else "no status from its agent")
        return found

    # ------------------------------------------------------------------ recordings

    def start_recording(self, name: str | None = None, participant: str | None = None,
                        metadata: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> Recording:
        """Start a recording (one participant's run); returns it with the id the
        agent gave it. AlreadyRecording while another one runs."""
        command = commands.start_command(name, participant, metadata)
        return commands.recording_of(self.id, self._reply(command, timeout), command)

    def stop_recording(self, recording: str | None = None, *, timeout: float | None = None) -> Recording:
        """Stop the running recording (only if it is ``recording``, when given);
        returns it with its stop time and sample count. NotRecording when none runs."""
        command = commands.stop_command(recording)
        return commands.recording_of(self.id, self._reply(command, timeout), command)

    def annotate(self, metadata: Mapping[str, Any], *, recording: str | None = None,
                 timeout: float | None = None) -> Recording:
        """Add ``metadata`` to the running recording (only if it is ``recording``,
        when given); returns the recording with its merged metadata."""
        command = commands.annotate_command(metadata, recording)
        return commands.recording_of(self.id, self._reply(command, timeout), command)

    # ------------------------------------------------------------------ markers and the clock

    def marker(self, name: str, utc_ns: int | None = None, *, apply_offset: bool = False, wait: bool = True,
               timeout: float | None = None, **fields: Any) -> Any:
        """Mark an event, now (this computer's clock) or at ``utc_ns``; returns
        the :class:`~gazewire.wire.messages.Marker` as the agent took it.

        Call it right after the event (``win.flip()``): the time is taken when
        it is called, before anything is sent. ``apply_offset``: move the time
        to the agent's clock by the measured offset (measured now if it never
        was). ``fields``: the marker's own data (``trial=3``). ``wait=False``:
        return at once, with a Future of the Marker.
        """
        stamp = self.lab.clock() if utc_ns is None else utc_ns
        if apply_offset:
            stamp = (self.offset or self.clock_offset()).to_agent_ns(stamp)
        command = commands.marker_command(name, stamp, fields)
        if wait:
            return commands.marker_of(self.id, self._reply(command, timeout))
        return self._later(command, timeout, lambda reply: commands.marker_of(self.id, reply))

    def clock_offset(self, probes: int = DEFAULT_PROBES, *, timeout: float | None = None) -> ClockOffset:
        """Measure the agent's clock against this computer's, NTP-style: ``probes``
        pings, the one with the smallest round trip kept. Kept as ``offset``."""
        commands.check_probes(probes)
        measured: list[Probe] = []
        for _ in range(probes):
            sent_ns, answer = self.lab._ask(self.id, commands.build_command("ping"), timeout)
            measured.append(commands.probe_of(self.id, sent_ns, answer.reply, answer.received_ns))
        self.offset = commands.offset_of(self.id, measured)
        return self.offset

    def ping(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The agent's answer to ``ping``: its version, run, counters."""
        return commands.result_of(self.id, self._reply(commands.build_command("ping"), timeout))

    def send(self, command: str, *, timeout: float | None = None, **fields: Any) -> CommandReply:
        """Any command, and the agent's reply as it is (``ok`` true or false)."""
        return self._reply(commands.build_command(command, **fields), timeout)

    # ------------------------------------------------------------------ live

    def gaze(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
             callback: Callable[[LiveGaze], Any] | None = None) -> Stream[LiveGaze]:
        """Live gaze (about 20 a second): iterate, take ``latest()``, or give a callback."""
        return self.lab.stream(Channel.GAZE, LiveGaze, session=self.id, timeout=timeout, buffer=buffer,
                               callback=callback)

    def fixations(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
                  callback: Callable[[FixationEvent], Any] | None = None) -> Stream[FixationEvent]:
        """Fixation starts and ends, from the processor."""
        return self.lab.stream(Channel.FIXATIONS, FixationEvent, session=self.id, timeout=timeout, buffer=buffer,
                               callback=callback)

    def alerts(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
               callback: Callable[[Alert], Any] | None = None) -> Stream[Alert]:
        """Alerts raised and cleared, from the processor."""
        return self.lab.stream(Channel.ALERTS, Alert, session=self.id, timeout=timeout, buffer=buffer,
                               callback=callback)

    def markers(self, *, timeout: float | None = None, buffer: int = DEFAULT_BUFFER,
                callback: Callable[[Marker], Any] | None = None) -> Stream[Marker]:
        """Markers as the agent took them (from any sender)."""
        return self.lab.stream(Channel.EVENTS, Marker, session=self.id, timeout=timeout, buffer=buffer,
                               callback=callback)

    # ------------------------------------------------------------------ asking

    def _reply(self, command: Command, timeout: float | None) -> CommandReply:
        return self.lab._ask(self.id, command, timeout)[1].reply

    def _later(self, command: Command, timeout: float | None, outcome: Callable[[CommandReply], Any]) -> Future:
        """Send now without waiting for the reply: a Future of ``outcome(reply)``,
        failed with AgentNotResponding when no reply came within ``timeout``."""
        core = self.lab._core
        timeout_s = self.lab.timeout if timeout is None else check_timeout(timeout)
        self.lab._wait(core.replies_subscribed(self.id), timeout_s)
        sent = core.send(self.id, command)
        result: Future = Future()

        def replied(reply: Future) -> None:
            if reply.cancelled():
                return
            error = reply.exception()
            if error is None:
                try:
                    value = outcome(reply.result().reply)
                except BaseException as refused:  # CommandRefused and kin, for whoever asks the future
                    error = refused
            settle(result, value if error is None else None, error)

        sent.reply.add_done_callback(replied)
        core.fail_after(result, timeout_s, lambda: AgentNotResponding(self.id, command.command, timeout_s))
        result.add_done_callback(lambda _: sent.reply.cancel())  # timed out: forget the command
        return result


def check_timeout(timeout: float) -> float:
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise InvalidArgument(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)

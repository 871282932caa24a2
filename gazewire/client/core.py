"""The machinery under :class:`~gazewire.client.Lab` and its asyncio twin.

One clean broker connection per lab client. Everything it asks of the broker
or an agent is a :class:`concurrent.futures.Future` completed on paho's
network thread, so the synchronous client waits on it with a timeout and the
asyncio client awaits it (``asyncio.wrap_future``), with the same outcomes:

* routes: a topic filter and the handlers of what arrives on it; the first
  handler of a filter subscribes, the last one to leave unsubscribes;
* commands: published on ``<prefix>/<session>/cmd``, matched with their reply
  on ``cmd/reply`` by ``id``; the reply arrives stamped with this client's
  clock (for the clock offset's ``t4``);
* statuses: every agent's and processor's retained status, kept current on a
  :class:`~gazewire.client.statuses.StatusBoard`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from paho.mqtt.client import topic_matches_sub

from gazewire.client.connection import BrokerConnection, Received, settle
from gazewire.client.statuses import StatusBoard, status_subscriptions
from gazewire.errors import ClientClosed, InvalidPayload
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import Command, CommandReply, parse_message
from gazewire.wire.topics import Topics

log = logging.getLogger(__name__)

Handler = Callable[[Received], None]
Clock = Callable[[], int]  # UTC nanoseconds, e.g. time.time_ns
_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Reply:
    """An agent's reply to one command, with this client's clock at its arrival."""

    reply: CommandReply
    received_ns: int


@dataclass(frozen=True, slots=True)
class Sent:
    """A command on its way: when it left (this client's clock) and its reply to come."""

    command: Command
    session: str
    sent_ns: int
    reply: Future  # of Reply; fails with NotAuthorized when the broker refused the command


class LabCore:
    """A lab client's connection, routes, pending commands and status board."""

    def __init__(self, mqtt: MqttSettings, topics: Topics, *, clock: Clock, client_id: str | None = None) -> None:
        self.mqtt = mqtt
        self.topics = topics
        self.clock = clock
        self.board = StatusBoard(topics)
        self.closed = False
        self._lock = threading.Lock()
        self._routes: dict[str, list[Handler]] = {}
        self._subscribed: dict[str, Future] = {}  # filter -> its SUBACK
        self._pending: dict[str, Future] = {}  # command id -> Future of Reply
        self._on_close: list[Callable[[], None]] = []
        self._deadlines: Deadlines | None = None
        client_id = client_id or f"gazewire-lab-{os.getpid()}-{next(_numbers)}-{time.monotonic_ns() % 10**9}"
        self.connection = BrokerConnection(mqtt, client_id=client_id, on_message=self._dispatch)

    # ------------------------------------------------------------------ connecting

    def connect(self, timeout_s: float) -> None:
        """Connect and subscribe to the statuses; BrokerUnreachable / BrokerRefused."""
        self.connection.start(status_subscriptions(self.topics))
        self.board.subscribed(self.connection.wait_subscribed(timeout_s))

    def close(self) -> None:
        """Disconnect; every command still waiting fails with ClientClosed, every stream ends."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            pending, self._pending = list(self._pending.values()), {}
            on_close, self._on_close = self._on_close, []
        for future in pending:
            settle(future, error=ClientClosed())
        for callback in on_close:
            callback()
        self.connection.close()

    def when_closed(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self.closed:
                self._on_close.append(callback)
                return
        callback()

    def not_when_closed(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._on_close:
                self._on_close.remove(callback)

    def fail_after(self, future: Future, timeout_s: float, error: Callable[[], BaseException]) -> None:
        """Fail ``future`` with ``error()`` unless it is done within ``timeout_s``
        (one watcher thread for every such future of this lab)."""
        with self._lock:
            if self._deadlines is None:
                self._deadlines = Deadlines()
            deadlines = self._deadlines
        deadlines.add(future, time.monotonic() + timeout_s, error)

    def check_open(self) -> None:
        if self.closed:
            raise ClientClosed()

    # ------------------------------------------------------------------ routes

    def route(self, topic_filter: str, handler: Handler, *, qos: int = 1) -> Future:
        """Hand what arrives on ``topic_filter`` to ``handler`` (paho's thread);
        the future completes with the broker's SUBACK."""
        self.check_open()
        with self._lock:
            handlers = self._routes.setdefault(topic_filter, [])
            handlers.append(handler)
            if len(handlers) > 1:
                return self._subscribed[topic_filter]
            subscribed: Future = Future()
            self._subscribed[topic_filter] = subscribed
        acknowledged = self.connection.subscribe([topic_filter], qos=qos)
        acknowledged.add_done_callback(lambda done: settle(subscribed, error=done.exception()))
        return subscribed

    def unroute(self, topic_filter: str, handler: Handler) -> None:
        with self._lock:
            handlers = self._routes.get(topic_filter, [])
            if handler in handlers:
                handlers.remove(handler)
            if handlers or topic_filter not in self._routes:
                return
            del self._routes[topic_filter]
            del self._subscribed[topic_filter]
        if not self.closed:
            self.connection.unsubscribe([topic_filter])

    def _dispatch(self, message: Received) -> None:
        if self.board.take(message):
            return
        with self._lock:
            handlers = [handler for topic_filter, found in self._routes.items()
                        if topic_matches_sub(topic_filter, message.topic) for handler in found]
        for handler in handlers:
            try:
                handler(message)
            except Exception:  # one broken handler must not stop the others, nor paho's thread
                log.exception("handling a message on %s failed", message.topic)

    # ------------------------------------------------------------------ commands

    def replies_subscribed(self, session: str) -> Future:
        """Subscribe to the session's replies (once per session); the SUBACK."""
        topic = self.topics.cmd_reply(session)
        with self._lock:
            existing = self._subscribed.get(topic)
        if existing is not None:
            return existing
        return self.route(topic, self._take_reply)

    def send(self, session: str, command: Command) -> Sent:
        """Publish ``command`` to the session (subscribe to its replies first:
        wait on :meth:`replies_subscribed`). The reply comes in ``Sent.reply``."""
        self.check_open()
        assert command.id is not None
        reply: Future = Future()
        with self._lock:
            self._pending[command.id] = reply
        reply.add_done_callback(lambda _: self._forget(command.id))  # type: ignore[arg-type]
        payload = command.model_dump_json(exclude_none=True)
        sent_ns = self.clock()
        published = self.connection.publish(self.topics.cmd(session), payload, qos=1)
        published.add_done_callback(lambda done: done.exception() and settle(reply, error=done.exception()))
        return Sent(command, session, sent_ns, reply)

    def _forget(self, command_id: str) -> None:
        with self._lock:
            self._pending.pop(command_id, None)

    def _take_reply(self, message: Received) -> None:
        received_ns = self.clock()  # first: the clock offset's t4
        try:
            reply = parse_message(CommandReply, message.payload)
        except InvalidPayload as error:
            command_id = _id_of(message.payload)
            with self._lock:
                future = self._pending.get(command_id) if command_id else None
            if future is not None:
                settle(future, error=InvalidPayload(f"the reply on {message.topic} is not valid: {error}"))
            return
        with self._lock:
            future = self._pending.get(reply.id) if reply.id else None
        if future is not None:  # otherwise another client's command, or one we gave up on
            settle(future, Reply(reply, received_ns))


class Deadlines:
    """Futures that fail when their time is up, watched by one daemon thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._heap: list[tuple[float, int, Future, Callable[[], BaseException]]] = []
        self._numbers = itertools.count()
        threading.Thread(target=self._watch, name="gazewire-deadlines", daemon=True).start()

    def add(self, future: Future, deadline: float, error: Callable[[], BaseException]) -> None:
        with self._changed:
            heapq.heappush(self._heap, (deadline, next(self._numbers), future, error))
            self._changed.notify()

    def _watch(self) -> None:
        while True:
            with self._changed:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._changed.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, future, error = heapq.heappop(self._heap)
            if not future.done():
                settle(future, error=error())


def _id_of(payload: bytes) -> str | None:
    import json

    try:
        data = json.loads(payload)
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None

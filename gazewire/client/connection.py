"""A lab client's connection to the broker: clean, leaving nothing behind.

The agent and the processor keep persistent sessions (their QoS 1 messages
must survive a reconnect). A lab client (``gazewire send``, ``status``, the
demo's view, the health check, an experiment script) does not: it connects
with a clean session under its own client id, subscribes, reads, maybe
publishes, and goes; the broker forgets it at once. paho reconnects by itself
after an outage, and the connection subscribes again to everything it had.

:class:`BrokerConnection` waits on conditions, never on sleeps: for the
connection (:meth:`~BrokerConnection.wait_connected`) and the broker's SUBACK
(:meth:`~BrokerConnection.wait_subscribed`), raising
:class:`~gazewire.errors.BrokerUnreachable` or
:class:`~gazewire.errors.BrokerRefused` with one clear line. What it asks of
the broker later (:meth:`~BrokerConnection.subscribe`,
:meth:`~BrokerConnection.publish`) returns a :class:`concurrent.futures.Future`
that the broker's acknowledgement completes, or fails with
:class:`~gazewire.errors.NotAuthorized` when the broker's ACL refused it, so
the synchronous and the asyncio client wait on the same thing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from gazewire.errors import BrokerRefused, BrokerUnreachable, NotAuthorized
from gazewire.mqtt import MqttSettings, connect_async, create_client, is_failure, reason_text


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the client received it."""

    topic: str
    payload: bytes
    retained: bool  # sent because the broker kept it, not because it was just published


OnMessage = Callable[[Received], None]


def settle(future: Future, value: object = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless it is done already (a waiter gave up, or the
    other outcome came first)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass


class BrokerConnection:
    """A clean-session connection that hands every message to ``on_message``
    (on paho's network thread: keep it short).

    Use it as a context manager, or call :meth:`close`::

        with BrokerConnection(mqtt, client_id="gazewire-status-1", on_message=seen) as broker:
            broker.start([topics.every_session(Channel.STATUS)])
            broker.wait_subscribed(timeout_s=5)
    """

    def __init__(self, mqtt: MqttSettings, *, client_id: str, on_message: OnMessage | None = None) -> None:
        self.mqtt = mqtt.model_copy(update={"session_expiry_s": 0})  # clean session: nothing stays behind
        self.on_message = on_message
        self._changed = threading.Condition()
        self._subscriptions: dict[str, int] = {}  # topic -> QoS, subscribed again after a reconnect
        self._unconfirmed: list[tuple[frozenset[str], Future]] = []  # subscribe() calls waiting for a SUBACK
        self._subscribing: dict[int, tuple[str, ...]] = {}  # SUBSCRIBE mid -> its topics
        self._publishing: dict[int, tuple[str, Future]] = {}  # PUBLISH mid -> (topic, future)
        self._early: dict[tuple[str, int], object] = {}  # acknowledgements that came before their mid was noted
        self._subscribed_at: float | None = None
        self._connected = False
        self._refused: str | None = None
        self._started = False
        self._closed = False
        self._client = create_client(self.mqtt, client_id=client_id[:128])
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

    @property
    def where(self) -> str:
        return f"{self.mqtt.host}:{self.mqtt.port}"

    @property
    def connected(self) -> bool:
        return self._connected

    # ------------------------------------------------------------------ use

    def start(self, topics: Sequence[str] = (), *, qos: int = 1) -> None:
        """Connect in the background and subscribe to ``topics`` once connected
        (paho reconnects by itself and subscribes again). Call it once."""
        if self._started:
            raise RuntimeError("BrokerConnection.start() called twice")
        self._started = True
        with self._changed:
            self._subscriptions.update((topic, qos) for topic in topics)
        connect_async(self._client, self.mqtt)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> None:
        """Wait until the broker accepted the connection. Raise BrokerRefused
        when it refused it, BrokerUnreachable when ``timeout_s`` passed first."""
        self._wait(lambda: self._connected, timeout_s)

    def wait_subscribed(self, timeout_s: float) -> float:
        """Wait until the broker has acknowledged the subscriptions given to
        :meth:`start`; return when it did (``time.monotonic()``). Raise
        BrokerRefused when it refused the connection, BrokerUnreachable when
        ``timeout_s`` passed first."""
        self._wait(lambda: self._subscribed_at is not None, timeout_s)
        assert self._subscribed_at is not None
        return self._subscribed_at

    def _wait(self, reached: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                if self._refused is not None:
                    raise BrokerRefused(
                        self.mqtt.host, self.mqtt.port, self.mqtt.username, self._refused,
                        password_given=self.mqtt.password is not None,
                    )
                if reached():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnreachable(self.mqtt.host, self.mqtt.port, timeout_s)
                self._changed.wait(remaining)

    def subscribe(self, topics: Sequence[str], *, qos: int = 1) -> Future:
        """Subscribe to ``topics`` (now, or as soon as connected, and again after
        every reconnect). The future completes with the broker's SUBACK, or
        fails with NotAuthorized when the broker refused a topic."""
        future: Future = Future()
        wanted = frozenset(topics)
        with self._changed:
            self._subscriptions.update((topic, qos) for topic in topics)
            self._unconfirmed.append((wanted, future))
            connected = self._connected
        if connected and wanted:
            self._send_subscribe([(topic, qos) for topic in topics])
        if not wanted:
            settle(future)
        return future

    def unsubscribe(self, topics: Sequence[str]) -> None:
        with self._changed:
            for topic in topics:
                self._subscriptions.pop(topic, None)
        if topics and self._connected:
            self._client.unsubscribe(list(topics))

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1) -> Future:
        """Publish; the future completes when the broker has it (its PUBACK
        for QoS 1; for QoS 0 when it was sent) or fails with NotAuthorized.
        While disconnected, paho keeps the message and sends it on reconnect."""
        future: Future = Future()
        info = self._client.publish(topic, payload, qos=qos)
        with self._changed:
            early = self._early.pop(("publish", info.mid), None)
            if early is None:
                self._publishing[info.mid] = (topic, future)
        if early is not None:
            self._settle_publish(topic, future, early)
        return future

    def close(self) -> None:
        self._closed = True
        self._client.disconnect()
        if self._started:
            self._client.loop_stop()

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ acknowledgements

    def _send_subscribe(self, topics: list[tuple[str, int]]) -> None:
        _, mid = self._client.subscribe(topics)
        if mid is None:
            return  # not connected after all: _on_connect subscribes to everything
        with self._changed:
            early = self._early.pop(("subscribe", mid), None)
            if early is None:
                self._subscribing[mid] = tuple(topic for topic, _ in topics)
                return
        self._confirm(tuple(topic for topic, _ in topics), early)  # type: ignore[arg-type]

    def _confirm(self, topics: tuple[str, ...], reason_codes: list) -> None:
        refused = {topic: reason_text(code) for topic, code in zip(topics, reason_codes) if is_failure(code)}
        done: list[tuple[Future, BaseException | None]] = []
        with self._changed:
            if self._subscribed_at is None:
                self._subscribed_at = time.monotonic()
            covered = set(topics)
            still: list[tuple[frozenset[str], Future]] = []
            for wanted, future in self._unconfirmed:
                if wanted <= covered:
                    bad = sorted(set(refused) & wanted)
                    error = NotAuthorized(self.mqtt.username, "subscribe to", bad[0], refused[bad[0]]) if bad else None
                    done.append((future, error))
                else:
                    still.append((wanted, future))
            self._unconfirmed = still
            self._changed.notify_all()
        for future, error in done:
            settle(future, error=error)

    def _settle_publish(self, topic: str, future: Future, reason_code: object) -> None:
        if is_failure(reason_code):
            settle(future, error=NotAuthorized(self.mqtt.username, "publish on", topic, reason_text(reason_code)))
        else:
            settle(future)

    # ------------------------------------------------------------------ paho callbacks (its network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if is_failure(reason_code):
            client.disconnect()  # a refusal does not go away by retrying
            with self._changed:
                self._refused = reason_text(reason_code)
                self._changed.notify_all()
            return
        with self._changed:
            self._connected = True
            topics = list(self._subscriptions.items())
            self._changed.notify_all()
        if topics:
            self._send_subscribe(topics)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        with self._changed:
            self._connected = False
            self._changed.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        with self._changed:
            topics = self._subscribing.pop(mid, None)
            if topics is None:
                self._early[("subscribe", mid)] = list(reason_codes)
                return
        self._confirm(topics, list(reason_codes))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        # Called with paho's message lock held: only settle futures here.
        with self._changed:
            entry = self._publishing.pop(mid, None)
            if entry is None:
                self._early[("publish", mid)] = reason_code
                return
        self._settle_publish(entry[0], entry[1], reason_code)

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        if self.on_message is not None:
            self.on_message(Received(message.topic, bytes(message.payload), bool(message.retain)))

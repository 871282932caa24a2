"""A lab client's connection to the broker: short-lived, leaving nothing behind.

The agent and the processor keep persistent sessions (their QoS 1 messages
must survive a reconnect). A lab client (``gazewire send``, ``status``, the
demo's view, the health check, an experiment script) does not: it connects
with a clean session under its own client id, subscribes, reads, maybe
publishes, and goes; the broker forgets it at once.

:class:`BrokerConnection` waits on conditions, never on sleeps: for the
connection and the broker's SUBACK (:meth:`~BrokerConnection.wait_subscribed`),
raising :class:`~gazewire.errors.BrokerUnreachable` or
:class:`~gazewire.errors.BrokerRefused` with one clear line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gazewire.errors import BrokerRefused, BrokerUnreachable
from gazewire.mqtt import MqttSettings, connect_async, create_client, is_failure, reason_text


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the client received it."""

    topic: str
    payload: bytes
    retained: bool  # sent because the broker kept it, not because it was just published


OnMessage = Callable[[Received], None]


class BrokerConnection:
    """A clean-session connection that subscribes to ``subscriptions`` and
    hands every message to ``on_message`` (on paho's network thread).

    Use it as a context manager, or call :meth:`close`::

        with BrokerConnection(mqtt, client_id="gazewire-status-1", on_message=seen) as broker:
            broker.start([topics.every_session(Channel.STATUS)])
            broker.wait_subscribed(timeout_s=5)
    """

    def __init__(self, mqtt: MqttSettings, *, client_id: str, on_message: OnMessage | None = None) -> None:
        self.mqtt = mqtt.model_copy(update={"session_expiry_s": 0})  # clean session: nothing stays behind
        self.on_message = on_message
        self._changed = threading.Condition()
        self._subscriptions: list[tuple[str, int]] = []
        self._subscribed_at: float | None = None
        self._refused: str | None = None
        self._started = False
        self._client = create_client(self.mqtt, client_id=client_id[:128])
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    @property
    def where(self) -> str:
        return f"{self.mqtt.host}:{self.mqtt.port}"

    # ------------------------------------------------------------------ use

    def start(self, topics: Sequence[str], *, qos: int = 1) -> None:
        """Connect in the background and subscribe to ``topics`` once connected
        (paho reconnects by itself and subscribes again). Call it once."""
        if self._started:
            raise RuntimeError("BrokerConnection.start() called twice")
        self._started = True
        self._subscriptions = [(topic, qos) for topic in topics]
        connect_async(self._client, self.mqtt)
        self._client.loop_start()

    def wait_subscribed(self, timeout_s: float) -> float:
        """Wait until the broker has acknowledged the subscriptions; return
        when it did (``time.monotonic()``). Raise BrokerRefused when it refused
        the connection, BrokerUnreachable when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                if self._refused is not None:
                    raise BrokerRefused(
                        self.mqtt.host, self.mqtt.port, self.mqtt.username, self._refused,
                        password_given=self.mqtt.password is not None,
                    )
                if self._subscribed_at is not None:
                    return self._subscribed_at
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnreachable(self.mqtt.host, self.mqtt.port, timeout_s)
                self._changed.wait(remaining)

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        self._client.disconnect()
        if self._started:
            self._client.loop_stop()

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if is_failure(reason_code):
            client.disconnect()  # a refusal does not go away by retrying
            with self._changed:
                self._refused = reason_text(reason_code)
                self._changed.notify_all()
            return
        if self._subscriptions:
            client.subscribe(self._subscriptions)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        with self._changed:
            if self._subscribed_at is None:
                self._subscribed_at = time.monotonic()
            self._changed.notify_all()

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        if self.on_message is not None:
            self.on_message(Received(message.topic, bytes(message.payload), bool(message.retain)))

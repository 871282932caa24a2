"""A plain MQTT subscriber, as any lab device would be: no gazewire code
between it and the broker except the topic strings."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.payload)


class LabDevice:
    def __init__(
        self,
        host: str,
        port: int,
        topics: list[str],
        *,
        client_id: str | None = None,
        persistent: bool = False,
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self._condition = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = topics
        self._qos = qos
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or "",
            protocol=paho.MQTTv311,
            clean_session=not persistent,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("lab device could not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(topic, self._qos) for topic in self._topics])

    def _on_message(self, client, userdata, message) -> None:
        with self._condition:
            self.messages.append(
                Received(message.topic, bytes(message.payload), bool(message.retain), message.qos, time.monotonic())
            )
            self._condition.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._condition:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[list[Received]], Any], timeout_s: float = 10.0, what: str = "") -> Any:
        """Block until ``predicate(messages)`` is truthy; return its value.

        The predicate runs on a snapshot, outside the lock, and again only when
        new messages have arrived: a slow predicate never holds up paho's thread
        (and with it the acknowledgements the broker waits for)."""
        deadline = time.monotonic() + timeout_s
        evaluated = -1
        while True:
            with self._condition:
                while len(self.messages) == evaluated:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        topics = sorted({m.topic for m in self.messages})
                        raise TimeoutError(
                            f"timed out after {timeout_s} s waiting for {what or 'a condition'}; "
                            f"{len(self.messages)} messages on {topics}"
                        )
                    self._condition.wait(remaining)
                snapshot = list(self.messages)
            evaluated = len(snapshot)
            result = predicate(snapshot)
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"timed out after {timeout_s} s waiting for {what or 'a condition'}; {evaluated} messages"
                )

    def publish(self, topic: str, payload: Any, qos: int = 1) -> None:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(topic, data, qos=qos).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

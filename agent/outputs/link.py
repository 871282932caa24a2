"""The agent's MQTT link: commands in, acknowledgements of what it published,
custody confirmations (``gaze/custody``) and the processors' retained statuses in.

The last will is the retained ``offline`` status, so every lab device learns
when the agent vanishes without saying goodbye. paho's network thread only
enqueues (commands, acknowledgements) and wakes the agent's own threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from gazewire.link import MqttLink
from gazewire.mqtt import MqttSettings, is_failure, reason_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    mid: int
    failed: bool
    reason: str


class AgentLink(MqttLink):
    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        will_topic: str,
        will_payload: bytes,
        command_topic: str,
        max_inflight: int,
        custody_topics: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(
            settings, client_id=client_id, will_topic=will_topic, will_payload=will_payload, max_inflight=max_inflight
        )
        self.command_topic = command_topic
        # (this session's gaze/custody, every processor's status): what custody needs to hear
        self.custody_topics = custody_topics
        self.custody: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        # Set once the broker confirmed the custody subscriptions: the retained processor
        # statuses come before anything acknowledged after it, so batches wait for it.
        self.custody_ready = threading.Event()
        if custody_topics is None:
            self.custody_ready.set()
        self._custody_mid: int | None = None
        self.commands: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()  # (arrived, UTC ns; payload)
        self.acknowledgements: queue.SimpleQueue[Acknowledgement] = queue.SimpleQueue()
        self._on_connected: list[Callable[[], None]] = []
        self._on_change: list[Callable[[], None]] = []
        self._on_command: list[Callable[[], None]] = []
        self._client.on_message = self._handle_message
        self._client.on_publish = self._handle_publish
        self._client.on_subscribe = self._handle_subscribe

    def when_connected(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on paho's thread after every (re)connection."""
        self._on_connected.append(callback)

    def when_changed(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` whenever the link comes up, goes down, or an ack arrives."""
        self._on_change.append(callback)

    def when_command(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (on paho's thread) when a command has been queued."""
        self._on_command.append(callback)

    # ------------------------------------------------------------------ MqttLink hooks

    def connection_up(self, client: paho.Client, session_present: bool) -> None:
        client.subscribe(self.command_topic, qos=1)
        if self.custody_topics is not None:
            self.custody_ready.clear()
            self._custody_mid = client.subscribe([(topic, 1) for topic in self.custody_topics])[1]
        for callback in self._on_connected:
            try:
                callback()
            except Exception:  # a bug in one callback must not kill paho's thread
                log.exception("connect callback failed")
        self._changed()

    def connection_down(self) -> None:
        if self.custody_topics is not None:
            self.custody_ready.clear()
        self._changed()

    # ------------------------------------------------------------------ paho callbacks

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.topic == self.command_topic:
            self.commands.put((time.time_ns(), bytes(message.payload)))
            for callback in self._on_command:
                callback()
            return
        if self.custody_topics is not None:
            self.custody.put((message.topic, bytes(message.payload)))
            self._changed()

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if mid == self._custody_mid:
            if any(is_failure(code) for code in reason_codes):
                log.error("the broker refused the custody subscriptions (check the ACL): "
                          "batches leave the outbox on the broker's PUBACK")
            self.custody_ready.set()
            self._changed()

    def _handle_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        # Called with paho's message lock held: only enqueue here (see BatchSender).
        self.acknowledgements.put(Acknowledgement(mid, is_failure(reason_code), reason_text(reason_code)))
        self._changed()

    def _changed(self) -> None:
        for callback in self._on_change:
            callback()

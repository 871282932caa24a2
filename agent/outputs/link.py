"""The agent's MQTT link: one paho client, its callbacks, and what they hand
to the rest of the agent.

paho's network thread only enqueues (commands, acknowledgements) and flips
the connection state; the agent's own threads do the work. The last will is
the retained ``offline`` status, so every lab device learns when the agent
vanishes without saying goodbye.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from gazewire.mqtt import MqttSettings, connect_async, create_client, is_failure, reason_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    mid: int
    failed: bool
    reason: str


class AgentLink:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        will_topic: str,
        will_payload: bytes,
        command_topic: str,
        max_inflight: int,
    ) -> None:
        self.settings = settings
        self.command_topic = command_topic
        self.commands: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.acknowledgements: queue.SimpleQueue[Acknowledgement] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.reconnects = 0
        self.last_error: str | None = None
        self._ever_connected = False
        self._stopping = False
        self._on_connected: list[Callable[[], None]] = []
        self._on_change: list[Callable[[], None]] = []
        self._on_command: list[Callable[[], None]] = []
        self._client = create_client(
            settings,
            client_id=client_id,
            will=(will_topic, will_payload, 1, True),
            max_inflight=max_inflight,
        )
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_publish = self._handle_publish
        self._client.on_connect_fail = self._handle_connect_fail

    # ------------------------------------------------------------------ lifecycle

    def when_connected(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on paho's thread after every (re)connection."""
        self._on_connected.append(callback)

    def when_changed(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` whenever the link comes up, goes down, or an ack arrives."""
        self._on_change.append(callback)

    def when_command(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (on paho's thread) when a command has been queued."""
        self._on_command.append(callback)

    def start(self) -> None:
        connect_async(self._client, self.settings)
        self._client.loop_start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self._stopping = True
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    # ------------------------------------------------------------------ publishing

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> paho.MQTTMessageInfo:
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    def wait_published(self, info: paho.MQTTMessageInfo, timeout_s: float) -> bool:
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    # ------------------------------------------------------------------ paho callbacks

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if is_failure(reason_code):
            self.last_error = f"broker refused the connection: {reason_text(reason_code)}"
            log.error("%s", self.last_error)
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self.last_error = None
        log.info(
            "connected to %s:%d (%s)",
            self.settings.host,
            self.settings.port,
            "session resumed" if getattr(flags, "session_present", False) else "new session",
        )
        client.subscribe(self.command_topic, qos=1)
        self.connected.set()
        for callback in self._on_connected:
            try:
                callback()
            except Exception:  # a bug in one callback must not kill paho's thread
                log.exception("connect callback failed")
        self._changed()

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if was_connected and not self._stopping:
            self.last_error = f"connection lost: {reason_text(reason_code)}"
            log.warning("disconnected from broker (%s); reconnecting", reason_text(reason_code))
        self._changed()

    def _handle_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self.last_error = f"cannot reach broker {self.settings.host}:{self.settings.port}"
        log.debug("%s", self.last_error)

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.topic == self.command_topic:
            self.commands.put(bytes(message.payload))
            for callback in self._on_command:
                callback()

    def _handle_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        # Called with paho's message lock held: only enqueue here (see BatchSender).
        self.acknowledgements.put(Acknowledgement(mid, is_failure(reason_code), reason_text(reason_code)))
        self._changed()

    def _changed(self) -> None:
        for callback in self._on_change:
            callback()

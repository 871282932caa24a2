"""The processor's MQTT link: one paho client, a persistent session, and the
messages it receives handed to the processing thread.

* Fixed client id and ``clean_start=False`` (:func:`gazewire.mqtt.connect_async`
  with a session expiry), QoS 1 subscriptions to ``<prefix>/+/gaze/batch``,
  ``<prefix>/+/status`` and ``<prefix>/+/events``: while the processor is away,
  the broker keeps its session and queues the batches for it.
* Manual acknowledgements: paho would send the PUBACK as soon as ``on_message``
  returns; here the processing thread calls :meth:`ProcessorLink.acknowledge`
  only after the message has been handled (its events published, its points in
  the sink). A message that was received but not handled - the processor
  stopped or crashed - is not acknowledged, and the broker sends it again.
* The last will is the retained ``offline`` processor status.

paho's network thread only enqueues; it never parses or processes.
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

MAX_INFLIGHT_OUT = 100  # our own QoS 1 publications (fixations, alerts) in flight


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    retained: bool
    qos: int
    mid: int
    generation: int  # connection number: an ack for an older connection is not sent


class ProcessorLink:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        subscriptions: list[str],
        will_topic: str,
        will_payload: bytes,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        self.deliveries: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.reconnects = 0
        self.acks_skipped = 0  # deliveries of a dropped connection: the broker sends them again
        self.publish_errors = 0
        self.last_error: str | None = None
        self._generation = 0
        self._stopping = False
        self._ever_connected = False
        self._on_delivery: list[Callable[[], None]] = []
        self._client = create_client(
            settings, client_id=client_id, will=(will_topic, will_payload, 1, True), max_inflight=MAX_INFLIGHT_OUT
        )
        self._client.manual_ack_set(True)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_message = self._handle_message

    # ------------------------------------------------------------------ lifecycle

    def when_delivered(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on paho's thread after a message has been queued."""
        self._on_delivery.append(callback)

    def start(self) -> None:
        connect_async(self._client, self.settings)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self._stopping = True
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    # ------------------------------------------------------------------ use

    def acknowledge(self, delivery: Delivery) -> None:
        """Send the PUBACK of a handled message (QoS 1), if its connection is still up."""
        if delivery.qos == 0:
            return
        if delivery.generation != self._generation or not self.connected.is_set():
            self.acks_skipped += 1
            return
        self._client.ack(delivery.mid, delivery.qos)

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> paho.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):  # NO_CONN: queued, sent on reconnect
            self.publish_errors += 1
            log.warning("publishing on %s failed: %s", topic, paho.error_string(info.rc))
        return info

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
        self._generation += 1
        self.last_error = None
        log.info(
            "connected to %s:%d (%s)",
            self.settings.host,
            self.settings.port,
            "session resumed" if getattr(flags, "session_present", False) else "new session",
        )
        # Subscribing again on every connection is harmless with a resumed session and
        # brings the agents' retained statuses (display areas, states) each time.
        client.subscribe([(topic, 1) for topic in self.subscriptions])
        self.connected.set()

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        refused = [code for code in reason_codes if is_failure(code)]
        if refused:
            self.last_error = f"broker refused a subscription: {reason_text(refused[0])}"
            log.error("%s (check the ACL of this user)", self.last_error)
        self.subscribed.set()

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        if was_connected and not self._stopping:
            self.last_error = f"connection lost: {reason_text(reason_code)}"
            log.warning("disconnected from broker (%s); reconnecting", reason_text(reason_code))

    def _handle_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self.last_error = f"cannot reach broker {self.settings.host}:{self.settings.port}"
        log.debug("%s", self.last_error)

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse such topics; never let it kill paho's thread
            topic = repr(bytes(message._topic))
        self.deliveries.put(
            Delivery(
                topic=topic,
                payload=bytes(message.payload),
                retained=bool(message.retain),
                qos=message.qos,
                mid=message.mid,
                generation=self._generation,
            )
        )
        for callback in self._on_delivery:
            callback()

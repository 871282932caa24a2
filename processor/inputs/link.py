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

paho's network thread only enqueues (and, with ``prepare``, compresses a batch for the journal); it
never parses or processes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from gazewire.link import MqttLink
from gazewire.mqtt import MqttSettings, is_failure, reason_text

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
    prepared: Any = None  # what the link's ``prepare`` made of it on arrival (None: nothing)


class ProcessorLink(MqttLink):
    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        subscriptions: list[str],
        will_topic: str,
        will_payload: bytes,
        prepare: Callable[[str, bytes], Any] | None = None,
    ) -> None:
        super().__init__(
            settings, client_id=client_id, will_topic=will_topic, will_payload=will_payload,
            max_inflight=MAX_INFLIGHT_OUT,
        )
        self.subscriptions = subscriptions
        # Work done on paho's thread as a message arrives, while the processing thread works on the
        # messages before it: for what releases the GIL (the journal's compression), a second core.
        self.prepare = prepare
        self.deliveries: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self.subscribed = threading.Event()
        self.acks_skipped = 0  # deliveries of a dropped connection: the broker sends them again
        self._generation = 0
        self._on_delivery: list[Callable[[], None]] = []
        self._client.manual_ack_set(True)
        self._client.on_subscribe = self._handle_subscribe
        self._client.on_message = self._handle_message

    def when_delivered(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on paho's thread after a message has been queued."""
        self._on_delivery.append(callback)

    def acknowledge(self, delivery: Delivery) -> None:
        """Send the PUBACK of a handled message (QoS 1), if its connection is still up."""
        if delivery.qos == 0:
            return
        if delivery.generation != self._generation or not self.connected.is_set():
            self.acks_skipped += 1
            return
        self._client.ack(delivery.mid, delivery.qos)

    # ------------------------------------------------------------------ MqttLink hooks

    def connection_up(self, client: paho.Client, session_present: bool) -> None:
        self._generation += 1
        # Subscribing again on every connection is harmless with a resumed session and
        # brings the agents' retained statuses (display areas, states) each time.
        client.subscribe([(topic, 1) for topic in self.subscriptions])

    def connection_down(self) -> None:
        self.subscribed.clear()

    # ------------------------------------------------------------------ paho callbacks

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        refused = [code for code in reason_codes if is_failure(code)]
        if refused:
            self.last_error = f"broker refused a subscription: {reason_text(refused[0])}"
            log.error("%s (check the ACL of this user)", self.last_error)
        self.subscribed.set()

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse such topics; never let it kill paho's thread
            topic = repr(bytes(message._topic))
        payload = bytes(message.payload)
        prepared = None
        if self.prepare is not None:
            try:
                prepared = self.prepare(topic, payload)
            except Exception:  # never let it kill paho's thread: the processing thread does it then
                log.exception("preparing a message on %s failed", topic)
        self.deliveries.put(
            Delivery(
                topic=topic,
                payload=payload,
                retained=bool(message.retain),
                qos=message.qos,
                mid=message.mid,
                generation=self._generation,
                prepared=prepared,
            )
        )
        for callback in self._on_delivery:
            callback()

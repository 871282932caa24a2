"""An MQTT link: one paho client with the lifecycle the agent and the
processor share.

It connects in the background, reconnects by itself (paho's loop, capped
exponential backoff), counts reconnections, remembers the last error for the
status message, and disconnects cleanly (so the broker does not publish the
last will). Subclasses add what they subscribe to and what they do with
messages; paho's network thread only ever enqueues.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from typing import Any

import paho.mqtt.client as paho

from gazewire.errors import BrokerRefused
from gazewire.mqtt import MqttSettings, connect_async, create_client, is_failure, reason_text, status_properties
from gazewire.wire.messages import AgentStatus, ProcessorStatus

log = logging.getLogger(__name__)


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        will_topic: str,
        will_payload: bytes,
        max_inflight: int,
    ) -> None:
        self.settings = settings
        self.connected = threading.Event()
        self.reconnects = 0
        self.publish_errors = 0
        self.last_error: str | None = None
        self._ever_connected = False
        self._stopping = False
        self._last_logged_failure: str | None = None
        self._client = create_client(
            settings, client_id=client_id, will=(will_topic, will_payload, 1, True), max_inflight=max_inflight
        )
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_connect_fail = self._handle_connect_fail

    # ------------------------------------------------------------------ lifecycle

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

    # ------------------------------------------------------------------ publishing

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False, properties: Any = None
    ) -> paho.MQTTMessageInfo:
        """Publish; while disconnected a QoS 1 message waits in paho and goes out on reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            self.publish_errors += 1
            log.warning("publishing on %s failed: %s", topic, paho.error_string(info.rc))
        return info

    def publish_status(self, topic: str, status: AgentStatus | ProcessorStatus) -> paho.MQTTMessageInfo:
        """Publish a status retained, with its MQTT 5 message expiry (:func:`gazewire.mqtt.status_properties`)."""
        properties = status_properties(
            self.settings, offline=status.state == "offline", status_interval_s=status.status_interval_s
        )
        return self.publish(topic, status.to_json(), qos=1, retain=True, properties=properties)

    def wait_published(self, info: paho.MQTTMessageInfo, timeout_s: float) -> bool:
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    # ------------------------------------------------------------------ hooks for subclasses

    def connection_up(self, client: paho.Client, session_present: bool) -> None:
        """After every successful (re)connection, on paho's thread: subscribe here."""

    def connection_down(self) -> None:
        """After the connection was lost or closed, on paho's thread."""

    # ------------------------------------------------------------------ paho callbacks

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if is_failure(reason_code):
            settings = self.settings
            self.last_error = str(BrokerRefused(
                settings.host, settings.port, settings.username, reason_text(reason_code),
                password_given=settings.password is not None,
            ))
            log.error("%s", self.last_error)
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self.last_error = None
        self._last_logged_failure = None
        session_present = bool(getattr(flags, "session_present", False))
        log.info(
            "connected to %s:%d (%s)",
            self.settings.host,
            self.settings.port,
            "session resumed" if session_present else "new session",
        )
        self.connected.set()
        self.connection_up(client, session_present)

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if was_connected and not self._stopping:
            self.last_error = f"connection lost: {reason_text(reason_code)}"
            log.warning("disconnected from broker (%s); reconnecting", reason_text(reason_code))
        self.connection_down()

    def _handle_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this from inside its ``except OSError`` block: the cause is at hand.
        self.last_error = (
            f"cannot connect to broker {self.settings.host}:{self.settings.port}: {describe_connect_error(sys.exc_info()[1])}"
        )
        if self.last_error != self._last_logged_failure:  # once per distinct cause, not per retry
            self._last_logged_failure = self.last_error
            log.warning("%s; retrying with backoff", self.last_error)


def describe_connect_error(error: BaseException | None) -> str:
    """One line for a failed connection attempt, with a hint for the usual causes."""
    if error is None:
        return "unknown error"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed ({error.verify_message}): check mqtt.ca_file and the host name"
    if isinstance(error, ssl.SSLError):
        return f"TLS error ({error.reason or error}): check mqtt.tls, the port, and the client certificate"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the broker running, and is this the right port?)"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__

"""MQTT connection settings and a configured paho-mqtt 2.x client, shared by
the agent and the processor.

The client reconnects by itself (paho's network loop with capped exponential
backoff) and keeps a persistent session, so QoS 1 messages survive a
reconnect: MQTT 5 ``clean_start=False`` with a session expiry interval, or
MQTT 3.1.1 ``clean_session=False``. A persistent session needs a client id
that stays the same across restarts; the default ids below do.
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
from enum import Enum
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gazewire.errors import SettingsError


log = logging.getLogger(__name__)


class _QuietReconnects(logging.Filter):
    """paho 2.2 logs an error on every loop pass while it waits to reconnect
    ("Client is not connected. Socket: None"); gazewire reports the
    disconnection itself, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


PAHO_LOGGER = logging.getLogger("gazewire.mqtt.paho")
PAHO_LOGGER.addFilter(_QuietReconnects())


class MqttProtocol(str, Enum):
    V5 = "5"
    V311 = "3.1.1"


class MqttTransport(str, Enum):
    TCP = "tcp"
    WEBSOCKETS = "websockets"


class MqttSettings(BaseModel):
    """How to reach the lab's broker."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    host: str = Field("localhost", min_length=1, description="Broker host name or address.")
    port: int = Field(
        1883, ge=1, le=65535, description="Broker port: 1883 plain, 8883 TLS, 9001 WebSocket."
    )
    transport: MqttTransport = Field(
        MqttTransport.TCP, description="tcp, or websockets when only the WebSocket listener is reachable."
    )
    websocket_path: str = Field("/mqtt", description="Path of the WebSocket endpoint (websockets only).")
    protocol: MqttProtocol = Field(
        MqttProtocol.V5,
        description="MQTT 5 (session expiry, reason codes) or 3.1.1 for old brokers.",
    )
    client_id: str | None = Field(
        None,
        max_length=128,
        description="Fixed client id; the default is derived from host and session (or processor id), "
        "the same on every start, as a persistent session needs. The lab broker (deploy/mosquitto) "
        "replaces every client id by the user name: one connection per user.",
    )
    username: str | None = Field(None, description="Broker user (see deploy/mosquitto/acl for roles).")
    password: SecretStr | None = Field(None, description="Broker password. Never printed or logged.")
    keepalive_s: int = Field(
        15, ge=5, le=3600, description="Keepalive: shorter detects a dead link (and fires the last will) sooner."
    )
    reconnect_min_s: float = Field(0.5, gt=0, le=60, description="First reconnect delay; doubles per failure.")
    reconnect_max_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Cap of the reconnect delay: the longest the agent waits after the broker is back. "
        "Larger spares a struggling broker.",
    )
    session_expiry_s: int = Field(
        86_400,
        ge=0,
        description="How long the broker keeps our session (and queues QoS 1 messages for us) while "
        "we are away. QoS 1 only survives a disconnect with a persistent session; 0 disables it.",
    )
    will_delay_s: int = Field(
        30,
        ge=0,
        le=86_400,
        description="MQTT 5: how long the broker waits before it publishes our last will (the "
        "retained offline status) after losing us. Back within this time - a broker that stalled, "
        "a network that dropped for a moment - we are not announced offline at all. Longer hides "
        "longer outages, and announces a real one later. Needs session_expiry_s > 0.",
    )
    offline_status_expiry_s: int = Field(
        86_400,
        ge=0,
        description="MQTT 5: how long the broker keeps an offline status retained (a clean stop, or "
        "the last will). Afterwards gazewire status and the live page no longer list the program; "
        "gazewire status --prune clears them at once. 0: kept until pruned. (A status that says "
        "the program is there expires by itself when it is not refreshed: status_lifetime_s.)",
    )
    tls: bool = Field(False, description="Use TLS (the lab broker's TLS listener is 8883).")
    ca_file: Path | None = Field(None, description="CA certificate (PEM) that signed the broker's certificate.")
    cert_file: Path | None = Field(None, description="Client certificate (PEM) for certificate authentication.")
    key_file: Path | None = Field(None, description="Client private key (PEM).")
    key_password: SecretStr | None = Field(None, description="Password of the client key, if encrypted.")
    tls_insecure: bool = Field(
        False, description="Skip the broker host name check. Only for testing; it defeats TLS."
    )

    @field_validator("host")
    @classmethod
    def _host_has_no_scheme(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("give a host name, not a URL (set port and tls separately)")
        if value.startswith("[") and value.endswith("]"):  # an IPv6 address as URLs write it
            value = value[1:-1]
        if not value:
            raise ValueError("give a host name or address")
        return value

    @model_validator(mode="after")
    def _files_exist_and_pair(self) -> MqttSettings:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).expanduser().is_file():
                raise ValueError(f"{name}: file {str(path)!r} does not exist")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("key_file: cert_file and key_file go together")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s: must be at least reconnect_min_s")
        if self.password is not None and self.username is None:
            raise ValueError("username: a password is given without username")
        return self


STATUS_LIFETIME_INTERVALS = 4  # refreshes a status may miss before it is stale
MIN_STATUS_LIFETIME_S = 60


def status_lifetime_s(status_interval_s: float | None) -> int:
    """How long a retained status that says its program is there stays true without a refresh:
    four refresh intervals, at least a minute (a busy broker, a reconnection). After that the
    broker drops it (MQTT 5 message expiry) and readers call it stale: the program is gone
    without a last will (it was killed while the broker was down) or hangs."""
    interval = status_interval_s if status_interval_s and status_interval_s > 0 else 0.0
    return max(MIN_STATUS_LIFETIME_S, math.ceil(STATUS_LIFETIME_INTERVALS * interval))


def status_properties(settings: MqttSettings, *, offline: bool, status_interval_s: float | None) -> Properties | None:
    """The PUBLISH properties of a retained status (MQTT 5; None for 3.1.1): its message expiry -
    :func:`status_lifetime_s` while the program is there, ``offline_status_expiry_s`` once it is
    offline (none when that is 0)."""
    if settings.protocol is not MqttProtocol.V5:
        return None
    expiry = settings.offline_status_expiry_s if offline else status_lifetime_s(status_interval_s)
    if not expiry:
        return None
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = expiry
    return properties


def will_properties(settings: MqttSettings) -> Properties | None:
    """The last will's properties (MQTT 5): the will delay, and the offline status's expiry,
    which for a will is set here, not on a PUBLISH."""
    if settings.protocol is not MqttProtocol.V5:
        return None
    properties = Properties(PacketTypes.WILLMESSAGE)
    if settings.will_delay_s and settings.session_expiry_s:
        properties.WillDelayInterval = settings.will_delay_s
    if settings.offline_status_expiry_s:
        properties.MessageExpiryInterval = settings.offline_status_expiry_s
    return properties


def parse_broker(text: str) -> tuple[str, str | None]:
    """``HOST[:PORT]`` as ``--broker`` takes it: a name or IPv4 address, an IPv6 address in
    brackets (``[::1]:1883``, ``[fe80::1]``) or bare (``::1``, no port then); the port as text
    (the settings check it)."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise SettingsError(f"--broker {text!r}: expected [IPV6]:PORT, e.g. [::1]:1883")
        return host, rest[1:] or None
    if text.count(":") > 1:  # a bare IPv6 address: the colons are its own
        return text, None
    host, colon, port = text.partition(":")
    return host, (port if colon else None)


def default_client_id(role: str, name: str) -> str:
    """The same id on every start (a persistent session needs that), distinct per role, host and name.
    Not a secret: brokers that must stop others from using it tie client ids to users
    (the lab broker's use_username_as_clientid: deploy/mosquitto/README.md, "Client ids")."""
    host = socket.gethostname().split(".")[0][:32] or "host"
    return f"gazewire-{role}-{host}-{name}"[:128]


def create_client(
    settings: MqttSettings,
    *,
    client_id: str,
    will: tuple[str, bytes, int, bool] | None = None,
    max_inflight: int = 20,
) -> paho.Client:
    """A paho client configured from ``settings`` (not yet connected)."""
    v5 = settings.protocol is MqttProtocol.V5
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        transport=settings.transport.value,
        clean_session=None if v5 else (settings.session_expiry_s == 0),
        reconnect_on_failure=True,
    )
    client.enable_logger(PAHO_LOGGER)
    if settings.transport is MqttTransport.WEBSOCKETS:
        client.ws_set_options(path=settings.websocket_path)
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            certfile=str(settings.cert_file) if settings.cert_file else None,
            keyfile=str(settings.key_file) if settings.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            keyfile_password=settings.key_password.get_secret_value() if settings.key_password else None,
        )
        client.tls_insecure_set(settings.tls_insecure)
    client.reconnect_delay_set(
        min_delay=max(1, round(settings.reconnect_min_s)), max_delay=max(1, round(settings.reconnect_max_s))
    )
    client.on_socket_open = _disable_nagle
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    if will is not None:
        topic, payload, qos, retain = will
        client.will_set(topic, payload, qos=qos, retain=retain, properties=will_properties(settings))
    return client


def _disable_nagle(client: paho.Client, userdata: Any, sock: Any) -> None:
    """paho leaves Nagle's algorithm on: a batch's last TCP segment then waits
    for the broker's delayed ACK (~40 ms). Gaze is latency-sensitive."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # websockets wrapper or a non-TCP socket
        raw = getattr(sock, "_socket", None)
        if raw is not None:
            try:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass


def connect_async(client: paho.Client, settings: MqttSettings) -> None:
    """Start connecting in the background; paho's loop retries until it succeeds."""
    if settings.protocol is MqttProtocol.V5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = settings.session_expiry_s
        client.connect_async(
            settings.host,
            settings.port,
            keepalive=settings.keepalive_s,
            clean_start=settings.session_expiry_s == 0,
            properties=properties,
        )
    else:
        client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)


def reason_text(reason_code: Any) -> str:
    """Readable text of a paho ReasonCode or int return code."""
    if hasattr(reason_code, "getName"):
        return str(reason_code.getName())
    return paho.error_string(int(reason_code)) if isinstance(reason_code, int) else str(reason_code)


def is_failure(reason_code: Any) -> bool:
    if hasattr(reason_code, "is_failure"):
        return bool(reason_code.is_failure)
    return bool(reason_code)

"""Fixtures for deploy/mosquitto: the REAL Mosquitto run with the SHIPPED files.

``shipped_config`` rewrites only what a test machine must change in
deploy/mosquitto/mosquitto.conf (the container paths below /mosquitto and the
listener ports, which become free loopback ports) and keeps every other line
exactly as shipped. The ACL is deploy/mosquitto/acl, and the users are added to
it by gazewire.cli.users, the same tool a lab engineer runs.

When the tests run as root (CI containers), Mosquitto drops to the
``mosquitto`` user, as it does in the official image (uid 1883), so that the
tests keep proving what the image needs (e.g. files readable by the broker's
user). Everything it reads or writes (config, passwords, ACL, certificates,
a copy of the live page for http_dir, persistence, log) is therefore placed
in a directory that user can enter, outside the checkout (which may be under
/root or in a 0700 directory), and handed to that user, like the image's
entrypoint does with /mosquitto.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gazewire.errors import GazewireError
from gazewire.cli.users import UserStore, find_mosquitto_passwd
from tests.support.mosquitto import directory_for_the_broker_user, find_mosquitto
from tests.support.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "mosquitto"
WWW = SHIPPED / "www"

# user name -> (role, password, sessions); the passwords exist only in these tests
LAB_USERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "lab-pc-1": ("agent", "agent-one-secret", ()),
    "lab-pc-2": ("agent", "agent-two-secret", ()),
    "pc-static": ("agent", "static-agent-secret", ("P01", "P02")),
    "processor": ("processor", "processor-secret", ()),
    "viewer": ("viewer", "viewer-secret", ()),
    "healthcheck": ("viewer", "healthcheck-secret", ()),  # the processor's health check: its own user
    "operator": ("operator", "operator-secret", ()),
}

TLS_LINES = re.compile(
    r"^#(listener 8883|protocol mqtt|cafile |certfile |keyfile |tls_version |require_certificate |"
    r"use_identity_as_username |use_username_as_clientid )"
)


def shipped_config(
    text: str, root: Path, *, mqtt_port: int, websocket_port: int, http_dir: Path = WWW,
    tls_port: int | None = None, require_certificate: bool = False,
) -> str:
    """The shipped mosquitto.conf with container paths and ports replaced, nothing else.

    With ``tls_port`` the commented TLS block is switched on (its "#" removed)
    with certificates from ``root/certs``.
    """
    out = []
    for line in text.splitlines():
        if tls_port is not None and TLS_LINES.match(line):
            line = line[1:]
            if line.startswith("require_certificate ") and require_certificate:
                line = "require_certificate true"
        if line == "listener 1883":
            line = f"listener {mqtt_port} 127.0.0.1"
        elif line == "listener 9001":
            line = f"listener {websocket_port} 127.0.0.1"
        elif line == "listener 8883" and tls_port is not None:
            line = f"listener {tls_port} 127.0.0.1"
        elif line == "http_dir /mosquitto/www":
            line = f"http_dir {http_dir}"
        elif not line.startswith("#"):
            for where in ("config", "data", "log", "certs"):
                line = line.replace(f"/mosquitto/{where}/", f"{root}/{where}/")
        if not line.startswith("#") and re.search(r"(^|\s)/mosquitto(/|$)", line):
            raise AssertionError(f"mosquitto.conf line not mapped for the test: {line!r}")
        out.append(line)
    return "\n".join(out) + "\n"


@dataclass
class ShippedBroker:
    """Mosquitto started from deploy/mosquitto/mosquitto.conf and deploy/mosquitto/acl."""

    root: Path
    users: dict[str, tuple[str, str, tuple[str, ...]]]
    port: int = field(default_factory=free_port)
    websocket_port: int = field(default_factory=free_port)
    tls_port: int | None = None
    require_certificate: bool = False
    http_dir: Path = WWW
    process: subprocess.Popen | None = None

    host = "127.0.0.1"

    def password(self, user: str) -> str:
        return self.users[user][1]

    @property
    def config_path(self) -> Path:
        return self.root / "config" / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "mosquitto.log"

    def prepare(self) -> None:
        for where in ("config", "data", "log", "certs"):
            (self.root / where).mkdir(parents=True, exist_ok=True)
        # http_dir: a copy, as the checkout may be closed to the broker's user (compose mounts it).
        shutil.copytree(self.http_dir, self.root / "www")
        shutil.copyfile(SHIPPED / "acl", self.root / "config" / "acl")
        store = UserStore(self.root / "config" / "passwords", self.root / "config" / "acl")
        for name, (role, password, sessions) in self.users.items():
            store.add(name, role, password, sessions=sessions)
        self.config_path.write_text(
            shipped_config(
                (SHIPPED / "mosquitto.conf").read_text(), self.root,
                mqtt_port=self.port, websocket_port=self.websocket_port, http_dir=self.root / "www",
                tls_port=self.tls_port, require_certificate=self.require_certificate,
            )
        )

    def start(self) -> None:
        if os.geteuid() == 0:  # mosquitto will switch to its own user: give it the files
            account = pwd.getpwnam("mosquitto")
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        binary = find_mosquitto()
        assert binary, "mosquitto is not installed: run scripts/test.sh, or apt-get install mosquitto"
        self.process = subprocess.Popen(
            [binary, "-c", str(self.config_path)],
            stdout=(self.root / "stdout.log").open("wb"), stderr=subprocess.STDOUT,
        )
        for port in (self.port, self.websocket_port, self.tls_port):
            if port is not None:
                wait_for_port(port, process=self.process)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads the password file and the ACL again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def log(self) -> str:
        parts = []
        for path in (self.log_path, self.root / "stdout.log"):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


@pytest.fixture
def broker_root() -> Iterator[Path]:
    """A directory outside pytest's (root-only) tmp tree that the mosquitto user can enter, removed afterwards."""
    root = directory_for_the_broker_user("gazewire-mosquitto-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make_lab_broker(broker_root: Path) -> Iterator:
    """Factory: ``make_lab_broker(**options)`` prepares (and by default starts) a ShippedBroker."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/test.sh, or apt-get install mosquitto")
    try:
        find_mosquitto_passwd()
    except GazewireError as error:
        pytest.fail(str(error))
    brokers: list[ShippedBroker] = []

    def make(*, start: bool = True, users: dict | None = None, **options) -> ShippedBroker:
        broker = ShippedBroker(broker_root / f"broker-{len(brokers)}", dict(LAB_USERS if users is None else users),
                               **options)
        broker.prepare()
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def lab_broker(make_lab_broker) -> ShippedBroker:
    return make_lab_broker()


# --------------------------------------------------------------------------- an MQTT 5 client that records everything


class Client:
    """paho (MQTT 5) as one role: records the CONNACK, every PUBACK reason code
    and every message, and lets a test wait for them without sleeping."""

    def __init__(self, broker: ShippedBroker, user: str | None, password: str | None = None, *,
                 transport: str = "tcp", port: int | None = None, tls: dict | None = None,
                 client_id: str | None = None, clean_start: bool = True) -> None:
        self.user = user
        self.connack = None  # ReasonCode of the CONNACK (or of the refusal)
        self.session_present: bool | None = None  # the CONNACK's flag: the broker resumed a session
        self.disconnects: list[str] = []  # reasons of connections lost after a CONNACK
        self.pubacks: dict[int, int] = {}  # mid -> reason code value
        self.messages: list = []
        self.subacks: list[list[int]] = []
        self._condition = threading.Condition()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, transport=transport,
            client_id=client_id or f"test-{user or 'anonymous'}-{id(self)}",
        )
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if tls is not None:
            self.client.tls_set(**tls)
        if user is not None:
            self.client.username_pw_set(user, password if password is not None else broker.password(user))
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda client, userdata: self._set(connack="connect failed")
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        default_port = broker.websocket_port if transport == "websockets" else broker.port
        properties = None
        if not clean_start:  # ask for a persistent session, as the processor does
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
        self.client.connect(broker.host, port or default_port, keepalive=10, clean_start=clean_start,
                            properties=properties)
        self.client.loop_start()
        self.wait(lambda: self.connack is not None, what=f"the CONNACK for {user!r}")

    def _set(self, **values) -> None:
        with self._condition:
            for key, value in values.items():
                setattr(self, key, value)
            self._condition.notify_all()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            client.disconnect()  # no reconnect loop against a refusing broker
        self._set(connack=reason_code, session_present=bool(flags.session_present))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connack is None:
            self._set(connack=reason_code)
        else:
            with self._condition:
                self.disconnects.append(str(reason_code))
                self._condition.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._condition:
            self.pubacks[mid] = reason_code.value
            self._condition.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._condition:
            self.subacks.append([code.value for code in reason_codes])
            self._condition.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        with self._condition:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))
            self._condition.notify_all()

    @property
    def connected(self) -> bool:
        return self.connack is not None and not isinstance(self.connack, str) and not self.connack.is_failure

    def wait(self, predicate, timeout_s: float = 10.0, what: str = "a condition"):
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.user}: timed out waiting for {what}; messages: "
                                       f"{[m[0] for m in self.messages]}, pubacks: {self.pubacks}")
                self._condition.wait(remaining)

    def publish(self, topic: str, payload: bytes | str = b"{}", *, qos: int = 1, retain: bool = False) -> int:
        """Publish and, for QoS 1, return the PUBACK reason code (0 success, 135 not authorised)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return 0
        return self.wait(lambda: info.mid in self.pubacks and (self.pubacks[info.mid],),
                         what=f"the PUBACK of {topic}")[0]

    def subscribe(self, *topics: str) -> list[int]:
        count = len(self.subacks)
        self.client.subscribe([(topic, 1) for topic in topics])
        self.wait(lambda: len(self.subacks) > count, what=f"the SUBACK of {topics}")
        return self.subacks[count]

    def received(self, topic: str) -> list[bytes]:
        with self._condition:
            return [payload for t, payload, _ in self.messages if t == topic]

    def wait_message(self, topic: str, timeout_s: float = 10.0) -> bytes:
        return self.wait(lambda: self.received(topic), timeout_s, what=f"a message on {topic}")[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_client() -> Iterator:
    """Factory: ``mqtt_client(broker, user, password=None, transport=...)`` -> Client, closed afterwards."""
    clients: list[Client] = []

    def connect(broker: ShippedBroker, user: str | None, password: str | None = None, **options) -> Client:
        client = Client(broker, user, password, **options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()

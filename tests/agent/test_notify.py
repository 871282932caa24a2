"""systemd's notify protocol, checked against real ``AF_UNIX`` datagram sockets
standing in for systemd: a socket file and an abstract socket for the unit
tests, and ``gazewire agent run`` as a child process with ``NOTIFY_SOCKET``
and ``WATCHDOG_USEC`` set for the end-to-end test.

Rate limiting is tested with an injected clock; no test sleeps to synchronise.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gazewire.agent.service.systemd import (
    SystemdNotifier,
    notifier_from_environment,
    socket_address,
    watchdog_interval_s,
)


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: a bound datagram socket."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.received: list[tuple[float, str]] = []

    def next(self, timeout_s: float = 10.0) -> str:
        self.sock.settimeout(timeout_s)
        data = self.sock.recv(4096)
        message = data.decode()
        self.received.append((time.monotonic(), message))
        return message

    def pending(self) -> list[str]:
        """Everything already queued, without waiting."""
        found = []
        self.sock.setblocking(False)
        try:
            while True:
                found.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            return found
        finally:
            self.sock.setblocking(True)

    def wait_for(self, predicate, *, what: str, timeout_s: float = 20.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; received {[m for _, m in self.received]}")
            try:
                message = self.next(left)
            except TimeoutError:
                continue
            if predicate(message):
                return message

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="gw-notify-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def systemd_socket(short_dir: Path) -> Iterator[tuple[str, FakeSystemd]]:
    path = str(short_dir / "notify")
    fake = FakeSystemd(path)
    yield path, fake
    fake.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- environment


def test_no_notify_socket_means_no_notifier():
    assert notifier_from_environment({}) is None
    assert notifier_from_environment({"NOTIFY_SOCKET": ""}) is None
    assert notifier_from_environment({"WATCHDOG_USEC": "30000000"}) is None


def test_unsupported_address_is_logged_and_ignored(caplog):
    with caplog.at_level(logging.WARNING):
        assert notifier_from_environment({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert "vsock:2:1234" in caplog.text


def test_socket_addresses():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@org/systemd/notify") == b"\0org/systemd/notify"
    assert socket_address("relative/path") is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 7.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 7.5),  # our pid in this test
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),  # someone else's watchdog
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "main"}, None),
    ],
)
def test_watchdog_interval_is_a_quarter_of_watchdog_usec(environ, expected):
    assert watchdog_interval_s(environ, pid=4242) == expected


# --------------------------------------------------------------------------- datagrams


def test_exact_datagrams_on_a_socket_file(systemd_socket):
    path, systemd = systemd_socket
    notifier = notifier_from_environment({"NOTIFY_SOCKET": path})
    assert isinstance(notifier, SystemdNotifier)
    notifier.ready()
    notifier.status("tracking, connected; 120 samples in, 100 published, 0 dropped, outbox 1")
    notifier.watchdog()  # no WATCHDOG_USEC: nothing
    notifier.stopping()
    assert [systemd.next() for _ in range(3)] == [
        "READY=1",
        "STATUS=tracking, connected; 120 samples in, 100 published, 0 dropped, outbox 1",
        "STOPPING=1",
    ]
    assert systemd.pending() == []
    notifier.close()


def test_abstract_socket():
    name = f"gazewire-test-{uuid.uuid4().hex}"
    systemd = FakeSystemd(b"\0" + name.encode())
    try:
        notifier = notifier_from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier is not None
        notifier.ready()
        notifier.stopping()
        assert [systemd.next(), systemd.next()] == ["READY=1", "STOPPING=1"]
    finally:
        systemd.close()


def test_status_is_one_line(systemd_socket):
    path, systemd = systemd_socket
    notifier = notifier_from_environment({"NOTIFY_SOCKET": path})
    notifier.status("first line\nsecond line\r\nthird")
    assert systemd.next() == "STATUS=first line second line third"


def test_watchdog_pings_are_rate_limited(systemd_socket):
    path, systemd = systemd_socket
    clock = Clock()
    notifier = notifier_from_environment(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}, pid=os.getpid(), clock=clock
    )
    assert notifier.watchdog_interval_s == 1.0
    sent_at = []
    # The pipeline loop calls watchdog() 20 times a second; one ping per second goes out.
    for step in range(61):
        clock.now = 1000.0 + step * 0.05
        before = len(systemd.pending())
        notifier.watchdog()
        if before == 0 and systemd.pending():
            sent_at.append(round(clock.now - 1000.0, 2))
    assert sent_at == [0.0, 1.0, 2.0, 3.0]


def test_watchdog_is_silent_for_another_pid(systemd_socket):
    path, systemd = systemd_socket
    environ = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    clock = Clock()
    notifier = notifier_from_environment(environ, clock=clock)
    for _ in range(10):
        clock.now += 1.0
        notifier.watchdog()
    notifier.ready()
    assert systemd.next() == "READY=1"
    assert systemd.pending() == []

    environ["WATCHDOG_PID"] = str(os.getpid())
    notifier = notifier_from_environment(environ, clock=clock)
    notifier.watchdog()
    assert systemd.next() == "WATCHDOG=1"


def test_socket_errors_never_reach_the_agent_and_warn_once(short_dir, caplog):
    notifier = notifier_from_environment(
        {"NOTIFY_SOCKET": str(short_dir / "nobody-listens"), "WATCHDOG_USEC": "1"}
    )
    with caplog.at_level(logging.WARNING, logger="gazewire.agent.service.systemd"):
        notifier.ready()
        notifier.watchdog()
        notifier.status("x")
        notifier.stopping()
        assert notifier.notify("READY=1") is False
    warnings = [r for r in caplog.records if r.name == "gazewire.agent.service.systemd"]
    assert len(warnings) == 1
    assert "nobody-listens" in warnings[0].getMessage()


# --------------------------------------------------------------------------- end to end


STATUS_LINE = re.compile(
    r"^STATUS=(?P<state>[a-z_]+), (?P<link>connected|broker unreachable); (?P<samples_in>\d+) samples in, "
    r"(?P<published>\d+) published, (?P<dropped>\d+) dropped, outbox (?P<outbox>\d+)$"
)


@pytest.mark.broker
def test_agent_run_talks_to_systemd(systemd_socket, start_agent):
    """``gazewire agent run`` as systemd runs it: READY=1 first, STATUS lines
    with counters, WATCHDOG=1 pings, and STOPPING=1 after SIGTERM."""
    path, systemd = systemd_socket
    session = "notify-" + uuid.uuid4().hex[:6]
    agent = start_agent(
        "--session", session, "--source", "simulated", "--set", "status_interval_s=0.5",
        NOTIFY_SOCKET=path, WATCHDOG_USEC="400000",  # a ping at most every 0.1 s
    )
    try:
        first = systemd.next(timeout_s=30)
        assert first == "READY=1", agent.log()
        ready_at = time.monotonic()

        def streaming(message: str) -> bool:
            match = STATUS_LINE.match(message)
            return bool(match and match["link"] == "connected" and int(match["published"]) > 0)

        systemd.wait_for(streaming, what="a STATUS line with published samples")
        # A later status line shows the counters moving on.
        first_count = max(
            int(m["samples_in"]) for _, text in systemd.received if (m := STATUS_LINE.match(text))
        )
        systemd.wait_for(
            lambda text: bool((m := STATUS_LINE.match(text)) and int(m["samples_in"]) > first_count),
            what="a STATUS line with more samples",
        )
        systemd.wait_for(lambda text: text == "WATCHDOG=1", what="a watchdog ping")

        agent.process.terminate()  # SIGTERM, as systemctl stop sends
        systemd.wait_for(lambda text: text == "STOPPING=1", what="STOPPING=1")
        stopped_at = time.monotonic()
        assert agent.terminate() == 0, agent.log()
    finally:
        if agent.process.poll() is None:
            agent.kill()

    messages = [text for _, text in systemd.received] + systemd.pending()
    assert messages.count("READY=1") == 1
    assert messages[0] == "READY=1" and messages[-1] == "STOPPING=1"  # nothing after STOPPING
    statuses = [text for text in messages if text.startswith("STATUS=")]
    assert statuses and all(STATUS_LINE.match(text) for text in statuses), statuses
    assert "tracking" in {STATUS_LINE.match(text)["state"] for text in statuses}
    pings = messages.count("WATCHDOG=1")
    assert pings >= 3
    # The pipeline loop wakes 20+ times a second; pings are limited to one per 0.1 s.
    assert pings <= (stopped_at - ready_at) / 0.1 + 3, (pings, stopped_at - ready_at)
    unknown = [text for text in messages if not re.match(r"^(READY=1|WATCHDOG=1|STOPPING=1|STATUS=.*)$", text)]
    assert unknown == []

"""``gazewire demo`` end to end: its own Mosquitto, simulated agents, the
processor, the console view, and a clean stop."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, gazewire_command


def test_demo_runs_and_stops_cleanly_on_ctrl_c(tmp_path):
    # Its own process group, so that SIGINT can go to the whole group, as Ctrl-C in a terminal does.
    process = subprocess.Popen(
        gazewire_command("demo", "--agents", "2", "--plain", "--data-dir", str(tmp_path)),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines = []
    # Wait until the view shows a fixation and an alert, then press Ctrl-C.
    for line in process.stdout:
        lines.append(line)
        if re.search(r"tracking .* fixations +[1-9]\d* +alerts [a-z(]", line):
            break
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: every process of the foreground group
    output = "".join(lines) + process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output
    summaries = re.findall(
        r"(demo-\d): (\d+) samples in \d+ batches on the wire; agent counted (\d+) in, (\d+) acknowledged, "
        r"(\d+) dropped; (\d+) fixations, (\d+) alerts",
        output,
    )
    assert len(summaries) == 2, output
    for _, on_wire, counted, acknowledged, dropped, fixations, alerts in summaries:
        assert int(on_wire) == int(counted) == int(acknowledged) > 0
        assert dropped == "0"
        assert int(fixations) > 0, "the processor detected fixations live"
        assert int(alerts) > 0, "the demo's lowered thresholds raise alerts"
    assert "final state offline" in output
    assert (tmp_path / "agents" / "recordings" / "demo-1.csv").exists()


def listening_sockets(pid: int) -> list[str]:
    """Local addresses (host:port) of every TCP socket that process ``pid`` listens on, from ss."""
    if shutil.which("ss") is None:
        pytest.fail("ss is not installed: run scripts/test.sh, or apt-get install iproute2")
    table = subprocess.run(["ss", "-H", "-l", "-t", "-n", "-p"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in table.splitlines() if f"pid={pid}," in line]


def test_demo_broker_listens_on_loopback_only(tmp_path):
    """The demo's broker is anonymous: none of its sockets may be reachable from the network
    (Mosquitto 2.0.11 ignored the address of the WebSocket listener and listened on *:port)."""
    from gazewire.cli.demo import LocalBroker

    broker = LocalBroker(tmp_path / "broker")
    broker.start()
    try:
        sockets = listening_sockets(broker.process.pid)
    finally:
        broker.stop()
    ports = {int(address.rsplit(":", 1)[1]) for address in sockets}
    assert ports == {broker.port, broker.websocket_port}, sockets
    for address in sockets:
        host = address.rsplit(":", 1)[0].strip("[]")
        assert host not in ("*", "0.0.0.0", "::") and ipaddress.ip_address(host).is_loopback, sockets


def test_demo_removes_its_temporary_data_and_says_where_it_is(tmp_path):
    """Without --data-dir the demo writes to a temporary directory (about 10 MB a minute),
    prints it at the start and removes it when it stops."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    process = subprocess.Popen(
        gazewire_command("demo", "--agents", "1", "--plain"), cwd=REPO, env=dict(os.environ, TMPDIR=str(temporary)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines, data = [], None
    for line in process.stdout:
        lines.append(line)
        if match := re.match(r"\s+data:\s+(\S+)\s+\(temporary: removed when the demo stops", line):
            data = match.group(1)
        if re.search(r"demo-1: tracking", line):
            break
    assert data is not None, "".join(lines)
    assert os.path.dirname(data) == str(temporary) and os.path.basename(data).startswith("gazewire-demo-")
    assert (temporary / os.path.basename(data) / "agents" / "recordings" / "demo-1.csv").exists()
    os.killpg(process.pid, signal.SIGINT)
    output = "".join(lines) + process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert list(temporary.iterdir()) == [], "the temporary data is removed"


DEMO_HOLDS_THE_LOCK = textwrap.dedent(
    """
    import argparse, os, signal, sys
    from gazewire.cli import demo

    class Holding(demo.Demo):
        def run(self):
            # The main thread inside stop_requested.wait() holds the Event's lock when Ctrl-C comes.
            with self.stop_requested._cond:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(100_000):  # Python runs the handler between these bytecodes
                    pass
            assert self.stop_requested.wait(10), "the stop request never arrived"
            print("stopped")
            return 0

        def clean_up(self):
            pass

    demo.Demo = Holding
    args = argparse.Namespace(agents=1, frequency=120.0, log_level="WARNING", data_dir=sys.argv[1])
    sys.exit(demo._demo(args))
    """
)


def test_demo_signal_handler_takes_no_lock_the_main_thread_may_hold(tmp_path):
    """The demo stops on Ctrl-C however its main thread is waiting: its handler must not set
    the Event the main loop waits on (that deadlocked, as the agent's did: issue 9, item 1)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", DEMO_HOLDS_THE_LOCK, str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the demo's signal handler deadlocked on the lock its main thread held")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"

"""A lab of real processes for the fault scenarios: Mosquitto, ``gazewire agent run``
with the simulated tracker, ``gazewire processor run``, and VictoriaMetrics as the
InfluxDB stand-in (it takes the same ``/api/v2/write``; a point written twice is kept
twice, so counting its points is a strict duplicate check - no dedup flag is set).

Ground truth is the agent's own recording (its CSV: every sample it produced); what
is stored is read from the processor's journal (SQLite, read-only) and from
VictoriaMetrics' export. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazewire.agent.recording_format import recording_path
from gazewire.processor.journal.records import unpack
from gazewire.wire.messages import AgentStatus, ProcessorStatus
from tests.conftest import REPO, gazewire_command
from tests.support.lab_device import LabDevice
from tests.support.mosquitto import MosquittoBroker
from tests.support.victoria import VictoriaMetrics

FREQUENCY_HZ = 300
PUBLISH_HZ = 10  # 30 samples a batch


@dataclass
class FaultBroker(MosquittoBroker):
    """The test broker, with persistence on (saved every ``autosave_s``, as a lab broker
    does it periodically) or off, and SIGSTOP/SIGCONT for a partition."""

    persistence: bool = True
    autosave_s: int = 2

    def _write_config(self) -> Path:
        config = super()._write_config()
        lines = []
        for line in config.read_text().splitlines():
            if line.startswith("persistence "):
                line = f"persistence {'true' if self.persistence else 'false'}"
            elif line.startswith("autosave_interval"):
                line = f"autosave_interval {self.autosave_s}"
            lines.append(line)
        config.write_text("\n".join(lines) + "\n")
        return config

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class Child:
    """One gazewire process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(args, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait(10)
        self._log.close()

    def terminate(self, timeout_s: float = 30.0) -> int:
        if self.alive:
            self.process.terminate()
        code = self.process.wait(timeout_s)
        self._log.close()
        return code

    def wait(self, timeout_s: float) -> int:
        code = self.process.wait(timeout_s)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (files and servers cannot notify us)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


class Lab:
    def __init__(self, directory: Path, *, persistence: bool = True, influx: bool = False) -> None:
        self.directory = directory
        self.broker = FaultBroker(directory / "broker", persistence=persistence)
        self.victoria = VictoriaMetrics(directory / "victoria-metrics") if influx else None
        tag = uuid.uuid4().hex[:6]
        self.session = f"fault-{tag}"
        self.processor_id = f"p-{tag}"
        self.processor_dir = directory / "processor"
        self.agent_dir = directory / "agent"
        self.children: list[Child] = []
        self.watcher: LabDevice | None = None

    # ------------------------------------------------------------------ processes

    def start(self) -> Lab:
        self.broker.start()
        if self.victoria is not None:
            self.victoria.start()
        self.watcher = LabDevice(self.broker.host, self.broker.port, [
            f"lab/{self.session}/status", f"lab/_sys/processor/{self.processor_id}/status",
        ])
        return self

    def close(self) -> None:
        for child in self.children:
            if child.alive:
                child.kill()
        if self.watcher is not None:
            self.watcher.close()
        self.broker.resume() if self.broker.process is not None and self.broker.process.poll() is None else None
        self.broker.kill()
        if self.victoria is not None:
            self.victoria.kill()

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
        env.update({
            "GAZEWIRE_MQTT__HOST": self.broker.host,
            "GAZEWIRE_MQTT__PORT": str(self.broker.port),
            "GAZEWIRE_MQTT__KEEPALIVE_S": "5",
            "GAZEWIRE_STATUS_INTERVAL_S": "0.5",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra)
        return env

    def processor(self, **extra: str) -> Child:
        env = self._env(**{
            "GAZEWIRE_PROCESSOR_ID": self.processor_id,
            "GAZEWIRE_DATA_DIR": str(self.processor_dir),
            "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.2",
            "GAZEWIRE_MQTT__RECONNECT_MAX_S": "1",
            **extra,
        })
        if self.victoria is not None:
            env.update({
                "GAZEWIRE_INFLUX__URL": self.victoria.url,
                "GAZEWIRE_INFLUX__FLUSH_INTERVAL_S": "0.2",
                "GAZEWIRE_INFLUX__RETRY_MIN_S": "0.2",
                "GAZEWIRE_INFLUX__RETRY_MAX_S": "1",
                "GAZEWIRE_INFLUX__TIMEOUT_S": "2",
            })
        child = Child(gazewire_command("processor", "run"), env,
                      self.directory / f"processor-{len(self.children)}.log")
        self.children.append(child)
        return child

    def agent(self, *, samples: int | None = None, reconnect_s: tuple[float, float] = (0.2, 1.0),
              autostart: bool = True, **extra: str) -> Child:
        args = ["--session", self.session, "--source", "simulated", "--frequency", str(FREQUENCY_HZ),
                "--seed", "7", "--publish-hz", str(PUBLISH_HZ), "--data-dir", str(self.agent_dir)]
        if samples is not None:
            args += ["--sample-limit", str(samples), "--exit-when-finished"]
        env = self._env(**{
            "GAZEWIRE_MQTT__RECONNECT_MIN_S": str(reconnect_s[0]),
            "GAZEWIRE_MQTT__RECONNECT_MAX_S": str(reconnect_s[1]),
            "GAZEWIRE_AUTOSTART": "true" if autostart else "false",
            **extra,
        })
        child = Child(gazewire_command("agent", "run", *args), env, self.directory / f"agent-{len(self.children)}.log")
        self.children.append(child)
        return child

    def drain_agent_outbox(self, timeout_s: float = 60.0) -> None:
        """Start the agent without a tracker stream so it sends what its outbox still holds."""
        if self.outbox_depth() == 0:
            return
        agent = self.agent(autostart=False)
        wait_until(lambda: self.outbox_depth() == 0, "the agent's outbox to empty", timeout_s)
        assert agent.terminate() == 0, agent.log()[-3000:]

    # ------------------------------------------------------------------ statuses

    def processor_status(self) -> ProcessorStatus | None:
        assert self.watcher is not None
        topic = f"lab/_sys/processor/{self.processor_id}/status"
        found = [m for m in self.watcher.messages if m.topic == topic]
        return ProcessorStatus.model_validate_json(found[-1].payload) if found else None

    def agent_status(self) -> AgentStatus | None:
        assert self.watcher is not None
        found = [m for m in self.watcher.messages if m.topic == f"lab/{self.session}/status"]
        return AgentStatus.model_validate_json(found[-1].payload) if found else None

    def wait_processor_online(self, timeout_s: float = 30.0) -> None:
        wait_until(lambda: (s := self.processor_status()) is not None and s.state == "online" and s.utc,
                   "the processor online", timeout_s)

    # ------------------------------------------------------------------ ground truth and what is stored

    def recorded(self) -> list[int]:
        """Every sample the agent produced: the ``seq`` column of its recording."""
        return [seq for seq, _ in self.recorded_samples()]

    def recorded_samples(self) -> list[tuple[int, int]]:
        """Every sample the agent produced as ``(seq, utc_us)`` (unique even where an agent
        killed mid-batch numbers the samples it never batched again)."""
        path = recording_path(self.agent_dir, self.session)
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            return [(int(row["seq"]), int(row["utc_us"])) for row in csv.DictReader(handle) if row["kind"] == "gaze"]

    def outbox_depth(self) -> int:
        path = self.agent_dir / "outbox" / f"{self.session}.sqlite3"
        if not path.exists():
            return 0
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
        finally:
            db.close()

    def journaled(self) -> Counter[int]:
        """Every sample in the processor's journal, by seq (a seq stored twice counts 2)."""
        return Counter(seq for (seq, _), count in self.journaled_samples().items() for _ in range(count))

    def journaled_samples(self) -> Counter[tuple[int, int]]:
        """Every sample in the processor's journal as ``(seq, utc_us)``."""
        path = self.processor_dir / "journal.sqlite"
        if not path.exists():
            return Counter()
        seqs: Counter[tuple[int, int]] = Counter()
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for codec, crc, body in db.execute(
                "SELECT codec, crc, body FROM records WHERE kind = 'batch' AND session = ?", (self.session,)
            ):
                columns = json.loads(unpack(codec, body, crc))["columns"]
                seqs.update(zip(columns["seq"], columns["utc_us"]))
        finally:
            db.close()
        return seqs

    def in_victoria(self) -> Counter[int]:
        """Every gaze point in VictoriaMetrics, by its seq field (a point written twice counts 2)."""
        assert self.victoria is not None
        seqs: Counter[int] = Counter()
        for labels, values in self.victoria.series("gaze", "seq").items():
            if ("session", self.session) in labels:
                seqs.update(int(value) for _, value in values)
        return seqs


def lost_and_duplicated(truth: list, stored: Counter) -> tuple[int, int]:
    """Samples of the ground truth not stored, and stored copies beyond the first."""
    produced = Counter(truth)
    lost = sum(1 for seq in produced if stored[seq] == 0)
    duplicated = sum(count - 1 for count in stored.values() if count > 1)
    extra = sum(count for seq, count in stored.items() if seq not in produced)
    return lost, duplicated + extra


def report(lab: Lab, **numbers: Any) -> None:
    """With GAZEWIRE_FAULT_REPORT=<file>, append one JSON line per scenario (docs/reliability.md's table)."""
    path = os.environ.get("GAZEWIRE_FAULT_REPORT")
    if not path:
        return
    processor = lab.processor_status()
    agent = lab.agent_status()
    numbers.update(
        scenario=os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0],
        duplicate_batches_dropped=processor.counters.get("duplicate_batches") if processor else None,
        batches_resent=agent.counters.batches_resent if agent else None,
        processor_missing_samples=processor.counters.get("missing_samples") if processor else None,
        processor_late_samples=processor.counters.get("late_samples") if processor else None,
    )
    with open(path, "a") as handle:
        handle.write(json.dumps(numbers) + "\n")


def settle(lab: Lab, agent: Child, samples: int, *, victoria: bool = False) -> list[int]:
    """Let the agent finish its samples and its outbox, wait until every recorded sample is
    stored, and assert none lost and none stored twice (journal, and VictoriaMetrics)."""
    assert agent.wait(180) == 0, agent.log()[-3000:]
    lab.drain_agent_outbox()
    truth = lab.recorded()
    assert len(truth) == samples == len(set(truth))
    stores = {"journal": lab.journaled}
    if victoria:
        stores["VictoriaMetrics"] = lab.in_victoria
    for name, read in stores.items():
        try:
            wait_until(lambda read=read: set(read()) >= set(truth), f"every recorded sample in the {name}", 60)
        except TimeoutError:
            pass  # the assertion below says how many
        lost, duplicated = lost_and_duplicated(truth, read())
        report(lab, store=name, recorded=len(truth), lost=lost, duplicated=duplicated)
        assert (lost, duplicated) == (0, 0), f"{name}: {lost} of {len(truth)} lost, {duplicated} duplicated"
    # the gap counter is exact: what it counted missing came late after all (none is still missing)
    status = wait_until(lambda: (s := lab.processor_status()) and s.state == "online" and s, "a processor status")
    counters = status.counters
    assert counters["missing_samples"] - counters["late_samples"] <= 0, counters
    assert not any("never arrived" in w for w in status.warnings), status.warnings
    return truth

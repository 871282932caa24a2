"""Fixtures of the processor tests: a time-series server, an in-process processor
and in-process agents (simulated trackers) against the real Mosquitto of the
``broker`` fixture."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gazewire.agent.config import AgentSettings
from gazewire.agent.inputs.simulated import SimulatedTracker
from gazewire.agent.runtime import Agent
from gazewire.mqtt import MqttSettings
from gazewire.processor.config import ProcessorSettings
from gazewire.processor.runtime import Processor
from tests.support.influx import ServerUnavailable, TimeSeriesServer, open_time_series_server
from tests.support.mosquitto import MosquittoBroker


@pytest.fixture
def time_series_server(tmp_path: Path) -> Iterator[TimeSeriesServer]:
    try:
        server = open_time_series_server(tmp_path / "tsdb")
    except ServerUnavailable as error:
        pytest.fail(str(error))
    server.start()
    yield server
    server.close()


def mqtt_settings(broker: MosquittoBroker, **overrides: Any) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, reconnect_min_s=0.2, reconnect_max_s=1.0, **overrides)


class RunningProcessor:
    """A Processor on a thread, with everything it published collected."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.published: list[tuple[str, Any]] = []
        self._condition = threading.Condition()
        processor.observe(self._observe)
        self.thread = threading.Thread(target=processor.run, name="test-processor", daemon=True)

    def _observe(self, kind: str, message: Any) -> None:
        with self._condition:
            self.published.append((kind, message))
            self._condition.notify_all()

    def start(self) -> RunningProcessor:
        self.thread.start()
        assert self.processor.link.subscribed.wait(10), "processor did not subscribe"
        return self

    def of(self, kind: str) -> list[Any]:
        with self._condition:
            return [m for k, m in self.published if k == kind]

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "") -> Any:
        with self._condition:
            result = self._condition.wait_for(predicate, timeout_s)
        assert result, f"timed out after {timeout_s} s waiting for {what}; counters {self.processor.counters()}"
        return result

    def counters(self) -> dict[str, int]:
        return self.processor.counters()

    def stop(self) -> None:
        self.processor.request_shutdown()
        self.thread.join(30)
        assert not self.thread.is_alive(), "processor did not stop"


@pytest.fixture
def start_processor(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Callable[..., RunningProcessor]]:
    running: list[RunningProcessor] = []

    def start(**settings: Any) -> RunningProcessor:
        mqtt = settings.pop("mqtt", {})
        settings.setdefault("processor_id", "test-processor")
        settings.setdefault("data_dir", tmp_path / "processor-data")
        settings.setdefault("status_interval_s", 0.5)
        processor = Processor(ProcessorSettings(mqtt=mqtt_settings(broker, **mqtt), **settings))
        runner = RunningProcessor(processor).start()
        running.append(runner)
        return runner

    yield start
    for runner in running:
        if runner.thread.is_alive():
            runner.stop()


class RunningAgent:
    def __init__(self, agent: Agent, tracker: SimulatedTracker) -> None:
        self.agent = agent
        self.tracker = tracker
        self.thread = threading.Thread(target=agent.run, name="test-agent", daemon=True)

    def stop(self) -> None:
        self.agent.request_shutdown()
        self.thread.join(30)
        assert not self.thread.is_alive(), "agent did not stop"

    def wait_finished(self, timeout_s: float = 60.0) -> None:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "agent did not finish"


@pytest.fixture
def start_inprocess_agent(broker: MosquittoBroker, tmp_path: Path) -> Iterator[Callable[..., RunningAgent]]:
    """An Agent with a SimulatedTracker in this process (its ground truth is at hand)."""
    running: list[RunningAgent] = []

    def start(session: str, *, frequency_hz: float = 120.0, seed: int = 0, limit: int | None = None,
              speed: float = 1.0, **settings: Any) -> RunningAgent:
        tracker = SimulatedTracker(frequency_hz=frequency_hz, seed=seed, limit=limit, speed=speed)
        mqtt = settings.pop("mqtt", {})
        agent_settings = AgentSettings(
            session=session,
            source="simulated",
            data_dir=tmp_path / f"agent-{session}",
            record=False,
            exit_when_finished=limit is not None,
            mqtt=mqtt_settings(broker, **mqtt),
            **settings,
        )
        runner = RunningAgent(Agent(agent_settings, tracker), tracker)
        runner.thread.start()
        running.append(runner)
        return runner

    yield start
    for runner in running:
        if runner.thread.is_alive():
            runner.stop()

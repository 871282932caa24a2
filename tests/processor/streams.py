"""Gaze batches for processor tests, made the way the agent makes them.

The samples come from the agent's simulator (with its ground truth), the
batches from the agent's own BatchBuilder and eye combination, so the
processor is tested on exactly what an agent sends.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from gazewire.agent.inputs.sdk import invalid_gaze
from gazewire.agent.inputs.gaze_model import GroundTruth, simulate_recording
from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.wire.messages import AgentStatus, DisplayArea, GazeBatch, TrackerInfo
from gazewire.processor.config import AlertSettings, ProcessorSettings
from gazewire.processor.inputs.payloads import PayloadParser
from gazewire.processor.pipeline.dispatch import Dispatcher
from gazewire.processor.pipeline.outcome import Outcome
from gazewire.processor.pipeline.session import SessionConfig
from gazewire.wire.topics import Topics

UTC_OFFSET_US = 1_700_000_000_000_000  # the "UTC" of system time 0 in these streams
START_SYSTEM_US = 50_000_000


@dataclass
class Stream:
    samples: list[dict[str, Any]]
    truth: GroundTruth | None
    frequency_hz: float


def simulated(duration_s: float, frequency_hz: float = 120.0, seed: int = 1, **params: Any) -> Stream:
    params.setdefault("start_system_time_us", START_SYSTEM_US)
    samples, truth = simulate_recording(duration_s, frequency_hz, seed=seed, **params)
    return Stream(samples, truth, frequency_hz)


def invalid_samples(count: int, start_system_us: int, frequency_hz: float) -> list[dict[str, Any]]:
    """Samples without any valid eye (the participant looked away)."""
    step = 1e6 / frequency_hz
    return [invalid_gaze(int(start_system_us + round(i * step)), int(start_system_us + round(i * step))) for i in range(count)]


def scripted(
    parts: list[tuple[str, float, float, float]],
    frequency_hz: float = 120.0,
    start_system_us: int = START_SYSTEM_US,
) -> list[dict[str, Any]]:
    """Noise-free samples that follow a script, in normalised display coordinates: parts
    ``(kind, seconds, a, b)`` - ``"fix"`` holds (a, b), ``"move"`` moves at (a, b) per second
    from where the gaze is (smooth pursuit), ``"jump"`` is a saccade to (a, b) in ``seconds``,
    ``"gap"`` invalid samples (a blink). Both eyes look at the same point from 650 mm."""
    template = simulated(0.05, frequency_hz).samples[0]
    step_us = 1e6 / frequency_hz
    samples: list[dict[str, Any]] = []
    x = y = 0.5
    for kind, seconds, a, b in parts:
        count = round(seconds * frequency_hz)
        x0, y0 = x, y
        for k in range(count):
            index = len(samples)
            now = int(start_system_us + round(index * step_us))
            if kind == "gap":
                samples.append(invalid_gaze(now, now))
                continue
            if kind == "fix":
                x, y = a, b
            elif kind == "move":
                x, y = x0 + a * (k + 1) / frequency_hz, y0 + b * (k + 1) / frequency_hz
            else:  # jump: a smooth saccade profile
                share = (1 - math.cos(math.pi * (k + 1) / count)) / 2
                x, y = x0 + (a - x0) * share, y0 + (b - y0) * share
            sample = dict(template)
            sample.update(
                device_time_stamp=now,
                system_time_stamp=now,
                left_gaze_point_on_display_area=(x, y),
                right_gaze_point_on_display_area=(x, y),
                left_gaze_origin_in_user_coordinate_system=(-32.0, 0.0, 650.0),
                right_gaze_origin_in_user_coordinate_system=(32.0, 0.0, 650.0),
            )
            samples.append(sample)
    return samples


def batch_payloads(
    samples: list[dict[str, Any]],
    *,
    session: str = "s1",
    sizes: list[int] | int = 6,
    run: str = "run-a",
    device: str = "SIM-1",
    first_seq: int = 0,
    first_batch_seq: int = 0,
    sample_rate_hz: float | None = 120.0,
    offset_us: int | Any = UTC_OFFSET_US,
) -> list[bytes]:
    """The samples as batch payloads; ``sizes`` is a fixed batch size or a list cycled through.

    ``offset_us`` is the UTC offset, or a function of the sample index giving it.
    """
    builder = BatchBuilder(session, device, run)
    cycle = [sizes] if isinstance(sizes, int) else list(sizes)
    payloads: list[bytes] = []
    target = cycle[0]
    for index, sample in enumerate(samples):
        offset = offset_us(index) if callable(offset_us) else offset_us
        builder.add(first_seq + index, sample["system_time_stamp"] + offset, sample, combine_eyes(sample))
        if len(builder) >= target:
            payload, _ = builder.build(
                batch_seq=first_batch_seq + len(payloads), clock_offset_us=offset, sample_rate_hz=sample_rate_hz
            )
            payloads.append(payload)
            target = cycle[len(payloads) % len(cycle)]
    if len(builder):
        offset = offset_us(len(samples) - 1) if callable(offset_us) else offset_us
        payload, _ = builder.build(
            batch_seq=first_batch_seq + len(payloads), clock_offset_us=offset, sample_rate_hz=sample_rate_hz
        )
        payloads.append(payload)
    return payloads


def status_payload(session: str = "s1", state: str = "tracking", *, utc: str | None = "2023-11-14T22:13:20.000000Z",
                   run: str = "run-a", display: tuple[float, float] | None = (527.0, 296.5),
                   frequency_hz: float = 120.0) -> bytes:
    status = AgentStatus(
        session=session,
        state=state,  # type: ignore[arg-type]
        utc=utc,
        agent_version="test",
        host="test",
        run=run,
        tracker=TrackerInfo(serial="SIM-1", frequency_hz=frequency_hz, source="simulated"),
        display_area=DisplayArea(width_mm=display[0], height_mm=display[1]) if display else None,
    )
    return status.to_json()


def dispatcher(**alerts: Any) -> Dispatcher:
    """A dispatcher with the default settings (and the given alert settings), fixed clocks."""
    settings = ProcessorSettings(alerts=AlertSettings(**alerts)) if alerts else ProcessorSettings()
    return make_dispatcher(settings)


def make_dispatcher(
    settings: ProcessorSettings,
    aois_for=lambda session: (),
    held=None,
    utc_us=lambda: 1_900_000_000_000_000,
    connected=lambda: True,
) -> Dispatcher:
    """A dispatcher of ``settings``; the monotonic clock stands still at 0 and ``utc_us`` (the
    processor's UTC clock, of the core and the checks on the way in alike) at 2030 unless given."""
    config = SessionConfig(
        held=held,
        parameters=settings.detector_parameters,
        display_mm=(settings.default_display_width_mm, settings.default_display_height_mm),
        eye_distance_mm=settings.default_eye_distance_mm,
        alerts=settings.alerts,
        aois_for=aois_for,
    )
    clock = {"t": 0.0}

    def monotonic() -> float:
        return clock["t"]

    return Dispatcher(
        config,
        PayloadParser(
            Topics("lab"), max_bytes=settings.max_payload_bytes, allowed_sessions=settings.sessions, utc_us=utc_us
        ),
        max_sessions=settings.max_sessions,
        idle_session_s=settings.idle_session_s,
        monotonic=monotonic,
        utc_us=utc_us,
        connected=connected,
    )


def feed(d: Dispatcher, payloads: list[bytes], session: str = "s1", channel: str = "gaze/batch") -> Outcome:
    total = Outcome()
    for payload in payloads:
        total.merge(d.handle(f"lab/{session}/{channel}", payload))
    return total


def fixation_key(event: Any) -> tuple:
    """A FixationEvent without the publish time (the only field that may differ between runs)."""
    return tuple(sorted((k, v) for k, v in event.model_dump().items() if k not in ("utc", "detected_utc_us")))


def mutate(payload: bytes, **changes: Any) -> bytes:
    message = json.loads(payload)
    for key, value in changes.items():
        if key.startswith("columns."):
            message["columns"][key.split(".", 1)[1]] = value
        else:
            message[key] = value
    return json.dumps(message).encode()


def parse(payload: bytes) -> GazeBatch:
    return GazeBatch.model_validate_json(payload)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)

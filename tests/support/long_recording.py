"""A long recording in a real journal, made fast.

The gaze is the agent's own: its batch builder over the simulated tracker makes
``template_s`` seconds of ``gaze/batch`` payloads (the JSON an agent at
``frequency_hz`` sends ``publish_hz`` times a second). Those are repeated, with
``seq``, ``batch_seq`` and the three clocks moved on each time, until the
recording is ``samples`` long: every payload is a valid batch of the contract
(one in every ``CHECK_EVERY`` is parsed to prove it), numbers and times run on
without a gap. The records go into a real
:class:`~gazewire.processor.journal.Journal` in group commits, with the agent
statuses that name the recording at its start and end, as the processor stores
them.

It skips the broker and detection (tested elsewhere): a million samples take
seconds, not the 14 minutes of a real agent at 1200 Hz. Used by the API's
bounded-memory test and by bench/api_throughput.py (a one-hour 1200 Hz recording).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gazewire.agent.inputs.gaze_model import GazeSimulator
from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.processor.journal import Journal, Record, RecordKind
from gazewire.processor.journal.convert import records_of
from gazewire.processor.pipeline.outcome import Outcome, ReceivedStatus
from gazewire.wire.messages import AgentStatus, GazeBatch, RecordingInfo, TrackerInfo
from gazewire.wire.timeutil import iso_from_utc_us

START_UTC_US = 1_795_000_000_000_000  # 2026-11-17T08:26:40Z: a fixed start, so runs compare
GROUP_BATCHES = 200  # batches per commit
CHECK_EVERY = 997  # payloads parsed against the contract
TIME_COLUMNS = ("seq", "device_time_us", "system_time_us", "utc_us")


@dataclass(frozen=True)
class LongRecording:
    journal: Path
    session: str
    recording: str
    samples: int
    first_utc_us: int
    last_utc_us: int
    json_bytes: int  # the batches' JSON, as the agent sent it


@dataclass(frozen=True)
class _Template:
    head: dict  # the batch's fields but columns
    columns: dict  # column name -> list (time columns) or its JSON text (the others)


def write_long_recording(path: Path, *, samples: int, session: str = "long-1",
                         recording: str = "20261117T082640Z-a1b2", participant: str = "P99",
                         frequency_hz: float = 1200.0, publish_hz: float = 20.0, template_s: float = 60.0,
                         seed: int = 5) -> LongRecording:
    """A journal at ``path`` holding one recording of ``samples`` samples (and nothing else)."""
    per_batch = max(1, round(frequency_hz / publish_hz))
    templates = _templates(session, recording, frequency_hz, per_batch, max(1, round(template_s * publish_hz)))
    period_samples = per_batch * len(templates)
    period_us = round(period_samples * 1e6 / frequency_hz)
    journal = Journal(path)
    info = RecordingInfo(id=recording, name="long run", participant=participant,
                         started_utc=iso_from_utc_us(START_UTC_US))
    written = json_bytes = batch_seq = 0
    last_utc_us = START_UTC_US
    pending: list[Record] = []
    try:
        journal.append(records_of(Outcome(statuses=[_status(session, info, START_UTC_US, frequency_hz)]),
                                  received_utc_us=START_UTC_US))
        while written < samples:
            round_, index = divmod(batch_seq, len(templates))
            template = templates[index]
            take = min(per_batch, samples - written)
            payload, first, last = _payload(template, batch_seq, round_ * period_samples, round_ * period_us, take)
            if batch_seq % CHECK_EVERY == 0:
                GazeBatch.model_validate_json(payload)
            pending.append(Record(
                session=session, kind=RecordKind.BATCH, body=payload, received_utc_us=last, first_utc_us=first,
                last_utc_us=last, run=template.head["run"], batch_seq=batch_seq, first_seq=written, samples=take,
                recording=recording,
            ))
            json_bytes += len(payload)
            written += take
            last_utc_us = last
            batch_seq += 1
            if len(pending) >= GROUP_BATCHES:
                journal.append(pending)
                pending = []
        end_info = info.model_copy(update={"samples": written})
        pending += records_of(Outcome(statuses=[_status(session, end_info, last_utc_us, frequency_hz)]),
                              received_utc_us=last_utc_us)
        journal.append(pending)
        journal._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        journal.close()
    return LongRecording(path, session, recording, written, START_UTC_US, last_utc_us, json_bytes)


def _templates(session: str, recording: str, frequency_hz: float, per_batch: int, count: int) -> list[_Template]:
    """``count`` batches of the agent's builder, the first sample at START_UTC_US."""
    simulator = GazeSimulator(frequency_hz=frequency_hz, seed=1)
    builder = BatchBuilder(session, "SIM-LONG", run="long")
    builder.recording = recording
    out = []
    offset_us = None
    for batch_seq in range(count):
        for sample in simulator.next_samples(per_batch):
            if offset_us is None:
                offset_us = START_UTC_US - sample["system_time_stamp"]
            builder.add(batch_seq * per_batch + len(builder), sample["system_time_stamp"] + offset_us, sample,
                        combine_eyes(sample))
        payload, _ = builder.build(batch_seq=batch_seq, clock_offset_us=offset_us, sample_rate_hz=frequency_hz)
        message = json.loads(payload)
        columns = message.pop("columns")
        out.append(_Template(message, {
            name: values if name in TIME_COLUMNS else json.dumps(values, separators=(",", ":"), allow_nan=False)
            for name, values in columns.items()
        }))
    return out


def _payload(template: _Template, batch_seq: int, seq_shift: int, time_shift_us: int, take: int,
             ) -> tuple[bytes, int, int]:
    """The template's batch moved on by ``seq_shift`` samples and ``time_shift_us``; its first ``take`` samples."""
    head = dict(template.head, batch_seq=batch_seq, first_seq=template.columns["seq"][0] + seq_shift, count=take)
    parts = []
    times = {}
    for name, value in template.columns.items():
        if name in TIME_COLUMNS:
            shift = seq_shift if name == "seq" else time_shift_us
            moved = [v + shift for v in value[:take]]
            times[name] = moved
            parts.append(f'"{name}":[{",".join(map(str, moved))}]')
        elif take == len(template.columns["seq"]):
            parts.append(f'"{name}":{value}')
        else:
            parts.append(f'"{name}":{json.dumps(json.loads(value)[:take], separators=(",", ":"))}')
    text = json.dumps(head, separators=(",", ":"))[:-1] + ',"columns":{' + ",".join(parts) + "}}"
    return text.encode(), times["utc_us"][0], times["utc_us"][-1]


def _status(session: str, info: RecordingInfo, utc_us: int, frequency_hz: float) -> ReceivedStatus:
    status = AgentStatus(
        session=session, state="tracking", utc=iso_from_utc_us(utc_us), agent_version="test", host="tracker-pc",
        run="long", tracker=TrackerInfo(model="Simulated", serial="SIM-LONG", frequency_hz=frequency_hz,
                                        source="simulated"),
        recording=info,
    )
    return ReceivedStatus(status, utc_us)

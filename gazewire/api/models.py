"""What the JSON endpoints answer and take, as documented in the OpenAPI schema.

The answers are the archive's own summaries (``SessionSummary``,
``RecordingSummary.to_dict()``, ``RecordingDetails.to_dict()`` in
:mod:`gazewire.archive.base`), field for field: a test keeps these models and
those dictionaries the same. The bodies of ``POST``/``PATCH`` carry the fields of
the agent's ``start`` and ``annotate`` commands (the client library checks them,
with the wire contract's rules).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gazewire.wire.messages import (
    ID_PATTERN,
    MAX_METADATA_BYTES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_NAME_LENGTH,
)

# The wire contract's limits (gazewire.wire.messages), stated in the schema; the client library
# checks the rest (the metadata's total size) before anything is sent.
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_METADATA_KEY_LENGTH)]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_LENGTH)]
METADATA_HELP = (f"Text values: at most {MAX_METADATA_KEYS} keys of 1-{MAX_METADATA_KEY_LENGTH} characters, "
                 f"values up to {MAX_METADATA_VALUE_LENGTH} characters, {MAX_METADATA_BYTES} bytes of JSON in all.")


class ErrorOut(BaseModel):
    """Every error: one line."""

    detail: str = Field(description="What is wrong, in one line.")


class SessionOut(BaseModel):
    session: str = Field(description="Session id (the station: lab/<session>/...).")
    recordings: int = Field(description="Recordings of the session in the archive.")
    samples: int = Field(description="Samples the archive holds of it, in recordings or between them.")
    first_utc_us: int | None = Field(description="UTC (µs) of its first sample.")
    last_utc_us: int | None = Field(description="UTC (µs) of its last sample.")


class RecordingOut(BaseModel):
    session: str = Field(description="Session id of the station that recorded it.")
    id: str = Field(description="Recording id, made by the agent at start (20261130T101500Z-3f9a).")
    name: str | None = Field(description="The name given at start.")
    participant: str | None = Field(description="The participant given at start.")
    start_utc_us: int | None = Field(description="UTC (µs) of its first sample.")
    stop_utc_us: int | None = Field(description="UTC (µs) of its last sample.")
    duration_s: float = Field(description="Last minus first sample, seconds.")
    samples: int = Field(description="Samples the archive holds (what a download of its gaze yields).")
    valid_share: float | None = Field(description="Share of the samples with at least one valid eye.")
    losses: dict[str, int] = Field(description="Samples lost while it ran, by counter (zero counters left out).")
    state: str | None = Field(description="recording, stopped or interrupted, when known.")


class RecordingDetailsOut(RecordingOut):
    metadata: dict[str, str] = Field(description="Metadata given at start and by annotate.")
    started_utc_us: int | None = Field(description="When the agent started it (the start command), UTC µs.")
    stopped_utc_us: int | None = Field(description="When it was stopped, UTC µs (null: running, or not known).")
    tracker: dict[str, Any] | None = Field(description="The eye tracker (model, serial, frequency...).")
    frequency_hz: float | None = Field(description="The tracker's nominal sampling rate.")
    display_area: dict[str, Any] | None = Field(description="The display area the agent reported (mm).")
    eye_distance_mm: float | None = Field(description="Median distance of the valid eyes from the tracker.")
    agent_version: str | None = Field(description="gazewire version of the agent.")
    host: str | None = Field(description="Host name of the tracker PC.")


class CommandOut(BaseModel):
    """A recording as the agent reported it in its reply to start, stop or annotate."""

    id: str = Field(description="Recording id.")
    session: str = Field(description="Session id.")
    name: str | None = None
    participant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    started_utc: str | None = Field(None, description="Start time (ISO 8601 UTC).")
    stopped_utc: str | None = Field(None, description="Stop time (ISO 8601 UTC), once stopped.")
    samples: int | None = Field(None, description="Samples it holds, once stopped.")


class StartRecording(BaseModel):
    """The body of ``POST /api/sessions/{session}/recordings``: the agent's ``start`` command."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"name": "stroop", "participant": "P07", "metadata": {"condition": "incongruent"}}]})

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_LENGTH,
                             description=f"The recording's name (1-{MAX_NAME_LENGTH} characters, any text).")
    participant: str | None = Field(None, pattern=ID_PATTERN,
                                    description="Participant id: ASCII letters, digits, '._-', at most 64.")
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, max_length=MAX_METADATA_KEYS,
                                                              description=METADATA_HELP)


class ChangeRecording(BaseModel):
    """The body of ``PATCH /api/recordings/{id}``: annotate it, stop it, or both (annotated first)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "minProperties": 1, "examples": [{"state": "stopped"}, {"metadata": {"note": "participant moved"}}]})

    # Optional but not nullable: a field that is given says something.
    state: Literal["stopped"] = Field(None, description="'stopped' stops the recording.")  # type: ignore[assignment]
    metadata: dict[MetadataKey, MetadataValue] = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=MAX_METADATA_KEYS,
        description=f"Metadata to merge into the recording's (annotate). {METADATA_HELP}")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    journal: str = Field(description="'ok', or why the journal cannot be read yet.")
    downloads: int = Field(description="Downloads streaming now.")

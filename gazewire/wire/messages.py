"""JSON messages of the wire contract, v1.

One pydantic model per message. The agent builds them, the processor parses
them, ``gazewire schema`` turns them into JSON Schema, and docs/protocol.md
describes them. Every message carries ``v`` (the protocol version, 1).

Time: ``utc_us`` is integer microseconds since the Unix epoch, ``utc`` the same
moment as ISO 8601 text. Tracker clocks keep the SDK's names:
``device_time_us`` (the tracker's own clock) and ``system_time_us`` (the host
clock of ``tobii_research.get_system_time_stamp()``).

Gaze positions ``x``, ``y`` are normalised to the display area: (0, 0) is the
top-left corner, (1, 1) the bottom-right. Gaze off the display gives values
outside 0..1; they are kept, not clipped.

Values that do not exist (an invalid eye, an unknown pupil) are ``null``,
never NaN: JSON has no NaN, and consumers must not have to guess.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from gazewire.errors import InvalidCommand, InvalidPayload
from gazewire.wire.sessions import shard_takes, validate_session_id

PROTOCOL_VERSION = 1
MAX_BATCH_SAMPLES = 20_000  # ~16 s at 1200 Hz; a larger batch is refused as bad input
MAX_NAME_LENGTH = 200
# A marker's utc_ns must be a moment of an experiment: from 2000 up to (not including) 2100.
MARKER_UTC_NS_MIN = 946_684_800_000_000_000  # 2000-01-01T00:00:00Z
MARKER_UTC_NS_END = 4_102_444_800_000_000_000  # 2100-01-01T00:00:00Z

SessionId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$")]

# Recordings (one run of one participant on a session). The agent makes the id at ``start``:
# its UTC start and four hex digits, e.g. ``20261130T101500Z-3f9a`` (unique, sorts by time).
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # recording and participant ids: safe as file names and tags
RecordingId = Annotated[
    str,
    Field(
        min_length=1, max_length=64, pattern=ID_PATTERN,
        description="Recording id made by the agent at start, e.g. 20261130T101500Z-3f9a.",
    ),
]
MAX_METADATA_KEYS = 32
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 1024
MAX_METADATA_BYTES = 8192  # the metadata as compact UTF-8 JSON
Metadata = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=MAX_METADATA_KEY_LENGTH)],
        Annotated[str, Field(max_length=MAX_METADATA_VALUE_LENGTH)],
    ],
    Field(
        max_length=MAX_METADATA_KEYS,
        description=f"Free text about a recording: up to {MAX_METADATA_KEYS} keys of 1-{MAX_METADATA_KEY_LENGTH} "
        f"characters, text values of at most {MAX_METADATA_VALUE_LENGTH} characters, "
        f"{MAX_METADATA_BYTES} bytes as compact UTF-8 JSON.",
    ),
]
Eye = Literal["both", "left", "right"]
EyeOrNone = Literal["both", "left", "right", "none"]


class WireModel(BaseModel):
    """Base of every message: unknown fields are ignored (forward compatible
    within v1), NaN and infinity are refused."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=False)

    v: Literal[1] = PROTOCOL_VERSION

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


# --------------------------------------------------------------------------- agent → lab


class LiveGaze(WireModel):
    """``<prefix>/<session>/gaze``: the latest valid combined sample, at most
    ``publish_hz`` times a second, QoS 0. Meant for live views: a message
    that is lost is simply replaced by the next one."""

    session: SessionId
    device: str = Field(description="Serial number of the eye tracker.")
    seq: int = Field(ge=0, description="Number of this live message, counting from 0 per agent run.")
    sample_seq: int = Field(ge=0, description="The sample's number in the lossless batch stream.")
    utc: str
    utc_us: int
    device_time_us: int
    system_time_us: int
    x: float = Field(description="Combined gaze x, normalised to the display area.")
    y: float = Field(description="Combined gaze y, normalised to the display area.")
    eye: Eye = Field(description="Which eye(s) the combined position comes from.")
    left_pupil: float | None = Field(description="Left pupil diameter in mm, null when invalid.")
    right_pupil: float | None = Field(description="Right pupil diameter in mm, null when invalid.")
    pupil: float | None = Field(description="Mean of the valid pupil diameters in mm.")
    samples: int = Field(ge=0, description="Samples received since the previous live message.")
    recording: RecordingId | None = Field(
        default=None, description="The recording this sample belongs to; null between recordings."
    )


BATCH_COLUMNS: tuple[str, ...] = (
    "seq",
    "device_time_us",
    "system_time_us",
    "utc_us",
    "x",
    "y",
    "eye",
    "left_x",
    "left_y",
    "left_valid",
    "left_pupil",
    "left_pupil_valid",
    "left_origin_x",
    "left_origin_y",
    "left_origin_z",
    "left_origin_valid",
    "right_x",
    "right_y",
    "right_valid",
    "right_pupil",
    "right_pupil_valid",
    "right_origin_x",
    "right_origin_y",
    "right_origin_z",
    "right_origin_valid",
)


class BatchColumns(BaseModel):
    """One list per field, all of the batch's length; index i is sample i.

    ``x``/``y``/``eye`` are the combined gaze (null / ``none`` when neither
    eye is valid). ``left_x``/``left_y`` are the eye's gaze point on the
    display area; ``*_origin_*`` the eye's position in the tracker's user
    coordinate system (mm; ``z`` is roughly the eye-to-tracker distance).
    Validity flags are the SDK's 0/1.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seq: list[int]
    device_time_us: list[int]
    system_time_us: list[int]
    utc_us: list[int]
    x: list[float | None]
    y: list[float | None]
    eye: list[EyeOrNone]
    left_x: list[float | None]
    left_y: list[float | None]
    left_valid: list[Literal[0, 1]]
    left_pupil: list[float | None]
    left_pupil_valid: list[Literal[0, 1]]
    left_origin_x: list[float | None]
    left_origin_y: list[float | None]
    left_origin_z: list[float | None]
    left_origin_valid: list[Literal[0, 1]]
    right_x: list[float | None]
    right_y: list[float | None]
    right_valid: list[Literal[0, 1]]
    right_pupil: list[float | None]
    right_pupil_valid: list[Literal[0, 1]]
    right_origin_x: list[float | None]
    right_origin_y: list[float | None]
    right_origin_z: list[float | None]
    right_origin_valid: list[Literal[0, 1]]


class SdkGap(BaseModel):
    """A hole in the tracker's stream: samples the SDK lost before the agent
    got them (its stream buffer overflowed), found from ``device_time_us``."""

    model_config = ConfigDict(extra="ignore")

    before_seq: int = Field(ge=0, description="seq of the first sample after the hole.")
    samples: int = Field(ge=1, description="Samples missing: the step in device_time_us at sample_rate_hz.")


class GazeBatch(WireModel):
    """``<prefix>/<session>/gaze/batch``: every sample since the previous
    batch, valid or not, columnar, QoS 1. Together the batches are the
    complete record: ``seq`` runs without gaps across batches, and
    ``batch_seq`` counts batches, so a consumer can see what it missed and
    drop what it saw twice (QoS 1 delivers at least once)."""

    session: SessionId
    device: str
    run: str | None = Field(
        default=None, max_length=64, description="Id of the agent process that recorded the batch."
    )
    batch_seq: int = Field(ge=0)
    first_seq: int = Field(ge=0, description="seq of the first sample in this batch.")
    count: int = Field(ge=0, le=MAX_BATCH_SAMPLES)
    clock_offset_us: int = Field(description="utc_us - system_time_us used for this batch.")
    sample_rate_hz: float | None = Field(default=None, description="The tracker's nominal rate.")
    columns: BatchColumns
    sdk_gaps: list[SdkGap] = Field(
        default_factory=list,
        description="Holes in the tracker's stream within this batch: seq runs on without a gap, "
        "but the SDK lost these samples before they reached the agent.",
    )
    recording: RecordingId | None = Field(
        default=None,
        description="The recording all samples of this batch belong to (a batch never spans two); "
        "null between recordings.",
    )

    @model_validator(mode="after")
    def _columns_have_count_rows(self) -> GazeBatch:
        count = self.count
        columns = self.columns.__dict__
        if any(len(columns[name]) != count for name in BATCH_COLUMNS):  # the first one is named
            name = next(name for name in BATCH_COLUMNS if len(columns[name]) != count)
            raise ValueError(f"column {name!r} has {len(columns[name])} values, count is {count}")
        seqs = self.columns.seq
        if seqs and (seqs[0] != self.first_seq or seqs[-1] != self.first_seq + self.count - 1):
            raise ValueError("seq column does not run from first_seq to first_seq + count - 1")
        return self


AgentState = Literal["online", "tracking", "waiting_for_tracker", "tracker_lost", "stopped", "offline"]


class TrackerInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str | None = None
    serial: str | None = None
    address: str | None = None
    name: str | None = None
    firmware: str | None = None
    frequency_hz: float | None = None
    source: str = Field(description="tobii, simulated or replay.")


class DisplayArea(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    width_mm: float = Field(gt=0)
    height_mm: float = Field(gt=0)


class ClockInfo(BaseModel):
    """How tracker time maps to UTC: ``utc_us = system_time_us + offset_us``."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    offset_us: int
    round_trip_us: int = Field(ge=0, description="Round trip of the best probe: the offset's uncertainty bound.")
    measured_utc: str


class RecordingInfo(BaseModel):
    """The recording an agent is making (``AgentStatus.recording``)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    id: RecordingId
    name: str | None = None
    participant: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    started_utc: str
    samples: int = Field(0, ge=0, description="Samples recorded so far.")


class AgentCounters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    samples_in: int = 0
    samples_invalid: int = 0
    samples_published: int = Field(0, description="Samples in batches the broker acknowledged.")
    samples_dropped_queue: int = Field(0, description="Lost because the SDK queue was full.")
    samples_dropped_outbox: int = Field(0, description="Lost because the full outbox evicted them.")
    samples_malformed: int = Field(0, description="Dropped because the source delivered a malformed sample.")
    live_published: int = 0
    batches_published: int = 0
    outbox_depth: int = Field(0, description="Batches waiting on disk for the broker's PUBACK.")
    outbox_evicted: int = 0
    batches_confirmed: int | None = Field(
        default=None, description="Batches whose custody a processor confirmed (gaze/custody): left the outbox."
    )
    batches_resent: int | None = Field(
        default=None, description="Batches sent again because no custody confirmation came in time."
    )
    reconnects: int = 0
    markers: int = 0
    samples_unsaved: int = Field(
        0,
        description="Sent without the durable outbox because its disk failed; in samples_published once "
        "acknowledged, in samples_dropped_unsaved if the broker refused it or the agent stopped first.",
    )
    samples_dropped_unsaved: int = Field(
        0, description="Sent without the outbox and not acknowledged (refused by the broker, or not before "
        "the agent stopped): lost."
    )
    samples_not_recorded: int = Field(
        0, description="Missing from the local recording because its disk failed (the batches have them)."
    )
    samples_dropped_sdk: int = Field(
        0,
        description="Lost inside the tracker's SDK before reaching the agent (stream buffer overflow), "
        "estimated from holes in device_time_us at the nominal rate; each hole is in a batch's sdk_gaps.",
    )
    sdk_buffer_overflows: int = Field(0, description="Stream buffer overflows the SDK reported.")
    tracker_connection_losses: int = Field(0, description="Times the connection to the tracker was lost.")
    commands_refused: int = Field(0, description="Commands answered with ok: false (invalid, or failed).")
    samples_live_only: int = Field(
        0,
        description="Taken between recordings with keep_unrecorded = false: shown live only, never numbered, "
        "batched or written (by choice, not a loss).",
    )


class AgentStatus(WireModel):
    """``<prefix>/<session>/status``, retained. Refreshed periodically; the
    broker publishes the ``offline`` last will when the agent vanishes."""

    session: SessionId
    state: AgentState
    utc: str | None = Field(description="When this status was made; null in the last will.")
    agent_version: str = Field(description="The gazewire version of the agent (the processor's status calls it version).")
    host: str
    run: str | None = Field(default=None, description="Id of this agent process (changes on restart).")
    reason: str | None = None
    publish_hz: float | None = None
    tracker: TrackerInfo | None = None
    display_area: DisplayArea | None = None
    clock: ClockInfo | None = None
    counters: AgentCounters = Field(default_factory=AgentCounters)
    warnings: list[str] = Field(default_factory=list)
    recording: RecordingInfo | None = Field(
        default=None, description="The recording running now; null when the agent is not recording."
    )
    custody: Literal["processor", "broker"] | None = Field(
        default=None,
        description="What lets a batch leave the outbox: a processor's custody confirmation "
        "(gaze/custody), or, with no processor online, the broker's PUBACK.",
    )
    status_interval_s: float | None = Field(
        default=None,
        gt=0,
        description="How often the agent refreshes this status while connected (s). A status that "
        "says the agent is there and is older than a few of these is stale (the agent hangs, or was "
        "killed while the broker was down); null in the last will and from older agents.",
    )

    @property
    def gazewire_version(self) -> str:
        """The publisher's gazewire version under one name for both statuses (on the wire: ``agent_version``)."""
        return self.agent_version


# --------------------------------------------------------------------------- commands

CommandName = Literal["start", "stop", "marker", "ping", "annotate"]

# Which optional fields each command takes (``id`` and ``command`` aside).
COMMAND_FIELDS: dict[str, tuple[str, ...]] = {
    "start": ("name", "participant", "metadata"),
    "stop": ("recording",),
    "annotate": ("metadata", "recording"),
    "marker": ("name", "utc_ns"),
    "ping": (),
}


class Command(BaseModel):
    """``<prefix>/<session>/cmd``: ``{"command": "marker", "name": "stimulus_on"}``.

    ``id`` is echoed in the reply so the sender can match them.

    * ``start`` begins a recording (and the tracker stream, if it was not running):
      optional ``name`` (the recording's name), ``participant`` and ``metadata``;
      refused while a recording runs. The reply's ``result`` has the recording's id.
    * ``stop`` ends the recording; the stream goes on (a live view for set-up).
      ``recording``, if given, must be the running one.
    * ``annotate`` merges ``metadata`` into the running recording's
      (``recording``, if given, must be the running one).
    * ``marker``: ``name``, and ``utc_ns`` the moment of the marker in UTC
      nanoseconds (e.g. ``time.time_ns()`` in PsychoPy), an integer from 2000
      to 2099; without it the agent uses the time the command arrived.
    * ``ping``: the reply carries the agent's clock (``received_utc_ns``,
      ``sent_utc_ns``) for a clock offset, and a few counters.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    v: Literal[1] = PROTOCOL_VERSION
    id: str | None = Field(default=None, max_length=64)
    command: CommandName
    name: str | None = Field(
        default=None, min_length=1, max_length=MAX_NAME_LENGTH,
        description="marker: the marker's name; start: the recording's name (optional).",
    )
    utc_ns: StrictInt | None = Field(
        default=None,
        ge=MARKER_UTC_NS_MIN,
        lt=MARKER_UTC_NS_END,
        description="Moment of the marker in UTC nanoseconds (an integer: time.time_ns()), 2000 to 2099.",
    )
    participant: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=ID_PATTERN,
        description="start: the participant's id, 1-64 letters, digits, '.', '_', '-' (e.g. a BIDS label).",
    )
    metadata: Metadata | None = Field(default=None, description="start, annotate: free text about the recording.")
    recording: RecordingId | None = Field(
        default=None, description="stop, annotate: the recording meant; refused if it is not the running one."
    )

    @field_validator("utc_ns", mode="wrap")
    @classmethod
    def _utc_ns_is_a_moment(cls, value: Any, handler: Any) -> int | None:
        from pydantic import ValidationError

        try:
            return handler(value)
        except ValidationError:
            raise ValueError(
                f"must be an integer of UTC nanoseconds from 2000 to 2099 (e.g. time.time_ns()), not {value!r}"
            ) from None

    @field_validator("participant", "recording", mode="before")
    @classmethod
    def _is_an_id(cls, value: Any) -> Any:
        if value is not None:
            problem = id_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_fits(cls, value: Any) -> Any:
        if value is not None:
            problem = metadata_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _fields_fit_the_command(self) -> Command:
        if self.command == "marker" and not self.name:
            raise ValueError("marker needs a 'name'")
        if self.command == "annotate" and not self.metadata:
            raise ValueError("annotate needs 'metadata' with at least one key")
        allowed = COMMAND_FIELDS[self.command]
        extra = [name for name in _OPTIONAL_COMMAND_FIELDS if name not in allowed and getattr(self, name) is not None]
        if extra:
            listed = " or ".join(repr(name) for name in extra)
            takes = ", ".join(repr(name) for name in ("id", *allowed))
            raise ValueError(f"'{self.command}' takes no {listed} (only {takes})")
        return self


_OPTIONAL_COMMAND_FIELDS = ("name", "utc_ns", "participant", "metadata", "recording")


def id_problem(value: Any) -> str | None:
    """What makes ``value`` no recording or participant id (None: it is one)."""
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > 64:
        return f"is {len(value)} characters long; at most 64 allowed"
    bad = next((ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in "._-"))), None)
    if bad is not None:
        return f"{value!r} contains {bad!r}; allowed are letters, digits, '.', '_' and '-' (1 to 64 characters)"
    return None


def metadata_problem(value: Any) -> str | None:
    """What makes ``value`` unfit as a recording's metadata (None: it fits)."""
    if not isinstance(value, dict):
        return f"must be an object of text keys and text values, not {type(value).__name__}"
    if len(value) > MAX_METADATA_KEYS:
        return f"has {len(value)} keys; at most {MAX_METADATA_KEYS} allowed"
    for key, item in value.items():
        if not key:
            return "keys must not be empty"
        if len(key) > MAX_METADATA_KEY_LENGTH:
            return f"key {key[:20]!r}... is {len(key)} characters long; at most {MAX_METADATA_KEY_LENGTH} allowed"
        if not isinstance(item, str):
            return f"value of {key!r} must be text (a JSON string), not {type(item).__name__} {item!r:.40}"
        if len(item) > MAX_METADATA_VALUE_LENGTH:
            return f"value of {key!r} is {len(item)} characters long; at most {MAX_METADATA_VALUE_LENGTH} allowed"
    size = metadata_size(value)
    if size > MAX_METADATA_BYTES:
        return f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES} allowed"
    return None


def metadata_size(metadata: dict[str, str]) -> int:
    """Bytes of ``metadata`` as compact UTF-8 JSON (the measure of its size limit)."""
    import json

    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())


ReplyCode = Literal["invalid_command", "already_recording", "not_recording", "refused", "failed"]


class CommandReply(WireModel):
    """``<prefix>/<session>/cmd/reply``: one per command, good or bad.

    A refused or failed command has ``ok`` false, one line for people in
    ``error`` and, for programs, ``code``: ``invalid_command`` (the payload is
    not a valid command), ``already_recording`` (``start`` while a recording
    runs; ``result.recording`` names it), ``not_recording`` (``stop`` or
    ``annotate`` while the recording meant is not running), ``refused`` (valid,
    but not now, for another reason) or ``failed`` (the agent could not carry
    it out).

    ``received_utc_ns`` and ``sent_utc_ns`` are the agent's clock when the
    command arrived and when the reply was made: with the sender's own send
    and receive times they give the clock offset and the round trip, as in NTP.
    """

    session: SessionId
    id: str | None = None
    command: str | None = Field(default=None, description="The command answered, whenever it could be read.")
    ok: bool
    error: str | None = None
    code: ReplyCode | None = Field(
        default=None, description="Why a command was not carried out, for programs (null when ok)."
    )
    state: AgentState | None = None
    result: dict[str, Any] | None = None
    utc: str
    received_utc_ns: int | None = Field(
        default=None, description="The agent's UTC (ns) when the command arrived at the agent."
    )
    sent_utc_ns: int | None = Field(default=None, description="The agent's UTC (ns) when it made this reply.")


class Marker(WireModel):
    """``<prefix>/<session>/events``: an event marker, also written to the
    local recording. ``system_time_us`` places it on the tracker's host clock,
    next to the samples."""

    session: SessionId
    device: str | None = None
    kind: Literal["marker"] = "marker"
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    utc: str
    utc_ns: int
    system_time_us: int | None = None
    source: Literal["command", "local"] = "command"
    recording: RecordingId | None = Field(
        default=None, description="The recording running when the marker arrived; null between recordings."
    )


# --------------------------------------------------------------------------- processor → lab


Algorithm = Literal["ivt", "idt", "ivd"]
"""The processor's eye-movement detector: Tobii I-VT, I-DT, or I-VD (fixations, saccades,
smooth pursuit and blinks)."""


class FixationEvent(WireModel):
    """``<prefix>/<session>/fixations``, QoS 1. ``start`` is sent as soon as
    the fixation is certain (``ivd``: as soon as it has lasted the minimum, ``tentative``,
    and taken back by an ``end`` with ``retracted`` if it was smooth pursuit), ``end`` when
    it is over. ``x``/``y`` are
    normalised like the gaze; ``*_deg`` are degrees of visual angle from the
    display centre."""

    session: SessionId
    device: str | None = None
    event: Literal["start", "end"]
    fixation: int = Field(ge=1, description="Fixation number within the session.")
    algorithm: Algorithm
    start_utc_us: int
    end_utc_us: int | None = None
    duration_ms: float = Field(ge=0, description="So far on start, total on end.")
    x: float | None
    y: float | None
    x_deg: float
    y_deg: float
    dispersion_deg: float | None = None
    samples: int = Field(ge=0)
    utc: str = Field(description="When the processor published this event.")
    confirmed_utc_us: int | None = Field(
        default=None,
        description="start only: time of the sample that made the fixation certain "
        "(its duration reached the detector's minimum).",
    )
    detected_utc_us: int | None = Field(
        default=None,
        description="Time of the newest sample the processor had when it emitted the event; "
        "minus confirmed_utc_us (start) or end_utc_us (end) it is the detector's look-ahead.",
    )
    recording: RecordingId | None = Field(
        default=None, description="The recording of the fixation's first sample; null between recordings."
    )
    tentative: bool | None = Field(
        default=None,
        description="start only, algorithm ivd: true when the start was published before the "
        "detector could tell the fixation from slow smooth pursuit (which takes a few hundred ms). "
        "If it was pursuit, the end comes soon with retracted true; otherwise it is a fixation "
        "like any other. Absent (null) when the start is certain.",
    )
    retracted: bool | None = Field(
        default=None,
        description="end only: true when a tentative start turned out to be no fixation (smooth "
        "pursuit). Then duration_ms is 0, end_utc_us = start_utc_us, and nothing is stored; "
        "consumers that count fixations skip it.",
    )
    interrupted: bool | None = Field(
        default=None,
        description="end only: true when the fixation was left open by a processor crash or restart "
        "and closed when it started again; end_utc_us is then the last sample the processor had, "
        "dispersion_deg is null.",
    )


def _position(description: str) -> Any:
    return Field(description=description + " Normalised like the gaze; null if not known.")


class SaccadeEvent(WireModel):
    """``<prefix>/<session>/saccades``, QoS 1 (algorithm ``ivd``): one message per saccade,
    when it is over (its post-saccadic oscillation window included). Times are the first and
    the last sample of the saccade itself, the oscillation after it not included."""

    session: SessionId
    device: str | None = None
    saccade: int = Field(ge=1, description="Saccade number within the session.")
    algorithm: Algorithm
    start_utc_us: int
    end_utc_us: int
    duration_ms: float = Field(ge=0, description="Last sample minus first sample.")
    amplitude_deg: float = Field(ge=0, description="Angle between the gaze at the first and the last sample.")
    peak_velocity_deg_s: float = Field(ge=0, description="Highest gaze velocity in the saccade.")
    direction_deg: float = Field(
        ge=-180,
        le=180,
        description="Direction on the display, counter-clockwise from rightwards: 0 right, 90 up, "
        "180 left, -90 down.",
    )
    start_x: float | None = _position("Gaze x at the first sample.")
    start_y: float | None = _position("Gaze y at the first sample.")
    end_x: float | None = _position("Gaze x at the last sample.")
    end_y: float | None = _position("Gaze y at the last sample.")
    start_x_deg: float
    start_y_deg: float
    end_x_deg: float
    end_y_deg: float
    pso_duration_ms: float = Field(
        ge=0, description="The post-saccadic oscillation after the saccade; 0 if none."
    )
    utc: str = Field(description="When the processor published this event.")
    detected_utc_us: int | None = Field(
        default=None, description="Time of the newest sample the processor had when it emitted the event."
    )
    recording: RecordingId | None = Field(
        default=None, description="The recording of the event's first sample; null between recordings."
    )


class PursuitEvent(WireModel):
    """``<prefix>/<session>/pursuits``, QoS 1 (algorithm ``ivd``): one message per smooth-pursuit
    segment (the gaze followed something moving), when it is over."""

    session: SessionId
    device: str | None = None
    pursuit: int = Field(ge=1, description="Pursuit number within the session.")
    algorithm: Algorithm
    start_utc_us: int
    end_utc_us: int
    duration_ms: float = Field(ge=0, description="Last sample minus first sample.")
    mean_velocity_deg_s: float = Field(ge=0, description="Mean speed of the gaze over the segment.")
    amplitude_deg: float = Field(ge=0, description="Angle between the gaze at the first and the last sample.")
    direction_deg: float = Field(
        ge=-180, le=180, description="From the first to the last sample, as for saccades."
    )
    start_x: float | None = _position("Gaze x at the first sample.")
    start_y: float | None = _position("Gaze y at the first sample.")
    end_x: float | None = _position("Gaze x at the last sample.")
    end_y: float | None = _position("Gaze y at the last sample.")
    start_x_deg: float
    start_y_deg: float
    end_x_deg: float
    end_y_deg: float
    samples: int = Field(ge=0)
    utc: str = Field(description="When the processor published this event.")
    detected_utc_us: int | None = Field(
        default=None, description="Time of the newest sample the processor had when it emitted the event."
    )
    recording: RecordingId | None = Field(
        default=None, description="The recording of the event's first sample; null between recordings."
    )


class BlinkEvent(WireModel):
    """``<prefix>/<session>/blinks``, QoS 1 (algorithm ``ivd``): one message per blink - a run of
    invalid samples longer than the gap fill-in bridges: a blink, or the eye lost otherwise -
    when it is over."""

    session: SessionId
    device: str | None = None
    blink: int = Field(ge=1, description="Blink number within the session.")
    algorithm: Algorithm
    start_utc_us: int = Field(description="The first invalid sample.")
    end_utc_us: int = Field(description="The last invalid sample.")
    duration_ms: float = Field(
        ge=0,
        description="From the last valid sample before to the first valid sample after (the gap's "
        "length); at a stream's start or end, from or to the run's own first or last sample.",
    )
    samples: int = Field(ge=0, description="Invalid samples in the run.")
    utc: str = Field(description="When the processor published this event.")
    detected_utc_us: int | None = Field(
        default=None, description="Time of the newest sample the processor had when it emitted the event."
    )
    recording: RecordingId | None = Field(
        default=None, description="The recording of the event's first sample; null between recordings."
    )


AlertType = Literal[
    "long_fixation", "aoi_dwell", "gaze_lost", "agent_offline", "sample_rate_low", "drowsiness",
    "agent_silent",
]
Severity = Literal["info", "warning", "critical"]


class Alert(WireModel):
    """``<prefix>/<session>/alerts``, QoS 1: one message when a condition
    starts (``raised``) and one when it ends (``cleared``)."""

    session: SessionId
    type: AlertType
    state: Literal["raised", "cleared"]
    severity: Severity
    utc: str
    utc_us: int
    details: dict[str, Any] = Field(default_factory=dict)
    recording: RecordingId | None = Field(
        default=None, description="The recording at utc_us; null between recordings."
    )


class AoiEvent(WireModel):
    """``<prefix>/<session>/aoi``, QoS 1: gaze entered or left a named area of interest."""

    session: SessionId
    aoi: str
    event: Literal["enter", "exit"]
    utc: str
    utc_us: int
    dwell_ms: float | None = Field(default=None, description="Time spent inside, on exit.")
    recording: RecordingId | None = Field(
        default=None, description="The recording of the visit's first fixation; null between recordings."
    )


class ProcessorStatus(WireModel):
    """``<prefix>/_sys/processor/<id>/status``, retained, with counters."""

    processor: str
    state: Literal["online", "offline"]
    utc: str | None
    version: str = Field(description="The gazewire version of the processor (the agent's status calls it agent_version).")
    host: str
    algorithm: str | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sink: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    journal: dict[str, Any] | None = Field(
        default=None,
        description="The journal: path, bytes, sessions, oldest_utc, retention, state and what "
        "retention evicted; null when the processor runs without one.",
    )
    shard: str | None = Field(
        default=None,
        description="k/n: this processor takes only the sessions whose stable hash puts them in "
        "shard k of n (gazewire.wire.sessions.session_shard); null: every session.",
    )
    serves_sessions: list[str] | None = Field(
        default=None, description="The only sessions this processor takes (its sessions setting); null: any."
    )
    shared_group: str | None = Field(
        default=None,
        description="The MQTT 5 shared-subscription group this processor reads in ($share/<group>/...): "
        "the broker chooses which member takes which session; null: none.",
    )
    status_interval_s: float | None = Field(
        default=None, gt=0, description="How often the processor refreshes this status while connected (s)."
    )

    @property
    def gazewire_version(self) -> str:
        """The publisher's gazewire version under one name for both statuses (on the wire: ``version``)."""
        return self.version

    def serves(self, session: str) -> bool:
        """Could this processor take ``session``'s batches (and so confirm their custody)? Not when
        its shard or its session list leaves the session to another processor. A member of a
        shared-subscription group may: the broker decides."""
        if self.serves_sessions is not None and session not in self.serves_sessions:
            return False
        try:
            return shard_takes(self.shard, session)
        except ValueError:  # an unreadable shard: not a processor to rely on
            return False


class Custody(WireModel):
    """``<prefix>/<session>/gaze/custody``, QoS 1, not retained: the batches of one agent
    run that the processor's journal now holds durably (also those it held already and
    received again). The agent may forget them. Sent after each journal commit that took
    batches of the session, coalesced into ranges."""

    session: SessionId
    processor: str = Field(description="Id of the processor whose journal holds the batches.")
    run: str | None = Field(default=None, max_length=64, description="The agent run the batches carry.")
    batches: list[Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)]] = Field(
        description="Inclusive [first_batch_seq, last_batch_seq] ranges."
    )
    utc: str


# --------------------------------------------------------------------------- helpers

MESSAGES: dict[str, type[BaseModel]] = {
    "gaze": LiveGaze,
    "gaze/batch": GazeBatch,
    "gaze/custody": Custody,
    "status": AgentStatus,
    "cmd": Command,
    "cmd/reply": CommandReply,
    "events": Marker,
    "fixations": FixationEvent,
    "saccades": SaccadeEvent,
    "pursuits": PursuitEvent,
    "blinks": BlinkEvent,
    "alerts": Alert,
    "aoi": AoiEvent,
    "processor/status": ProcessorStatus,
}


def parse_command(payload: bytes | str) -> Command:
    """Parse a command payload; raise InvalidCommand with one clear line."""
    from pydantic import ValidationError

    try:
        return Command.model_validate_json(payload)
    except ValidationError as error:
        raise InvalidCommand(describe_validation_error(error)) from None


def parse_message(model: type[WireModel], payload: bytes | str) -> Any:
    """Parse ``payload`` as ``model``; raise InvalidPayload naming the problem and its kind."""
    from pydantic import ValidationError

    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        kind = "schema"
        if first["type"] == "json_invalid":
            kind = "json"
        elif first["type"] == "finite_number":
            kind = "non_finite"
        elif field == "v":
            kind = "version"
        elif first["type"] == "less_than_equal" and field == "count":
            kind = "too_large"
        raise InvalidPayload(describe_validation_error(error), kind=kind) from None


def describe_validation_error(error: Any) -> str:
    """The first problem of a pydantic ValidationError as one line: ``field: message``."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "payload"
    message = first.get("msg", "invalid").removeprefix("Value error, ")
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"{where}: {message}{suffix}"


def finite_or_none(value: float | None) -> float | None:
    """NaN and infinities become None, so they serialise as JSON null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


__all__ = [
    "PROTOCOL_VERSION",
    "BATCH_COLUMNS",
    "LiveGaze",
    "GazeBatch",
    "BatchColumns",
    "SdkGap",
    "AgentStatus",
    "AgentCounters",
    "TrackerInfo",
    "DisplayArea",
    "ClockInfo",
    "RecordingInfo",
    "Command",
    "CommandReply",
    "Marker",
    "Algorithm",
    "FixationEvent",
    "SaccadeEvent",
    "PursuitEvent",
    "BlinkEvent",
    "Alert",
    "AoiEvent",
    "ProcessorStatus",
    "Custody",
    "MESSAGES",
    "parse_command",
    "parse_message",
    "finite_or_none",
    "validate_session_id",
]

"""Every InfluxDB measurement, tag and field the processor writes, defined once.

Everything that names a measurement imports it from here: the point builders,
the line-protocol files, the tests, docs/processor.md (its storage table is
:func:`markdown_table`, checked by a test) and, later, the Grafana dashboards.

Timestamps are the samples' UTC in microseconds (write precision ``us``) and
tags depend only on the data, so writing the same batch twice writes the same
points again: InfluxDB overwrites them instead of duplicating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from gazewire.errors import GazewireError
from gazewire.processor.outputs.lineprotocol import FieldValue, Point

FieldKind = Literal["float", "integer", "string", "boolean"]


class UnknownNameError(GazewireError, ValueError):
    """A point names a tag or field its measurement does not define."""


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: FieldKind
    unit: str
    description: str


@dataclass(frozen=True)
class Measurement:
    name: str
    description: str
    time: str
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]

    @cached_property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(tag.name for tag in self.tags)

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @cached_property
    def _tag_set(self) -> frozenset[str]:
        return frozenset(self.tag_names)

    @cached_property
    def _field_set(self) -> frozenset[str]:
        return frozenset(self.field_names)

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise UnknownNameError(f"measurement {self.name!r} has no field {name!r}")

    def point(self, time_us: int, tags: Mapping[str, str], fields: Mapping[str, FieldValue]) -> Point:
        """A point of this measurement; raises UnknownNameError for a name not defined here."""
        if not (self._tag_set.issuperset(tags) and self._field_set.issuperset(fields)):
            unknown = (set(tags) - self._tag_set) | (set(fields) - self._field_set)
            raise UnknownNameError(f"measurement {self.name!r} does not define {sorted(unknown)}")
        return Point(self.name, tags, fields, int(time_us))


SESSION = Tag("session", "Session id (the topic level lab/<session>/...).")
DEVICE = Tag("device", "Serial number of the eye tracker.")
RECORDING = Tag(
    "recording",
    "Recording id (one participant's run, from a start to a stop); absent between recordings.",
)
ALGORITHM = Tag("algorithm", "The detector: ivt, idt or ivd.")

GAZE = Measurement(
    name="gaze",
    description="Every sample of every batch, valid or not.",
    time="the sample's utc_us",
    tags=(SESSION, DEVICE, RECORDING),
    fields=(
        Field("seq", "integer", "", "Sample number in the agent's lossless stream."),
        Field("x", "float", "normalised", "Combined gaze x (0 left, 1 right edge of the display area)."),
        Field("y", "float", "normalised", "Combined gaze y (0 top, 1 bottom edge)."),
        Field("valid", "integer", "0/1", "1 when at least one eye is valid (x, y present)."),
        Field("eye", "string", "", "Which eye(s) x, y come from: both, left, right, none."),
        Field("left_x", "float", "normalised", "Left eye's gaze point x."),
        Field("left_y", "float", "normalised", "Left eye's gaze point y."),
        Field("left_valid", "integer", "0/1", "Validity of the left gaze point (SDK)."),
        Field("right_x", "float", "normalised", "Right eye's gaze point x."),
        Field("right_y", "float", "normalised", "Right eye's gaze point y."),
        Field("right_valid", "integer", "0/1", "Validity of the right gaze point (SDK)."),
        Field("pupil", "float", "mm", "Mean of the valid pupil diameters."),
        Field("left_pupil", "float", "mm", "Left pupil diameter."),
        Field("left_pupil_valid", "integer", "0/1", "Validity of the left pupil (SDK)."),
        Field("right_pupil", "float", "mm", "Right pupil diameter."),
        Field("right_pupil_valid", "integer", "0/1", "Validity of the right pupil (SDK)."),
    ),
)

FIXATION = Measurement(
    name="fixation",
    description="One point per fixation, written when it ends.",
    time="the fixation's first sample (start_utc_us)",
    tags=(SESSION, DEVICE, ALGORITHM, RECORDING),
    fields=(
        Field("number", "integer", "", "Fixation number within the session (goes on across processor restarts)."),
        Field("duration_ms", "float", "ms", "Last sample minus first sample."),
        Field("end_utc_us", "integer", "µs", "UTC of the fixation's last sample."),
        Field("x", "float", "normalised", "Mean gaze x."),
        Field("y", "float", "normalised", "Mean gaze y."),
        Field("x_deg", "float", "deg", "Mean horizontal visual angle from the display centre."),
        Field("y_deg", "float", "deg", "Mean vertical visual angle from the display centre (down positive)."),
        Field("dispersion_deg", "float", "deg", "(max x - min x) + (max y - min y)."),
        Field("samples", "integer", "", "Samples in the fixation (gap-filled ones included)."),
        Field("interrupted", "integer", "0/1", "1 when a processor crash left the fixation open and the "
              "restarted processor closed it (end at its last sample then); absent otherwise."),
    ),
)

_START_END = (
    Field("start_x", "float", "normalised", "Gaze x at the first sample."),
    Field("start_y", "float", "normalised", "Gaze y at the first sample."),
    Field("end_x", "float", "normalised", "Gaze x at the last sample."),
    Field("end_y", "float", "normalised", "Gaze y at the last sample."),
)

SACCADE = Measurement(
    name="saccade",
    description="One point per saccade (algorithm ivd), written when it is over.",
    time="the saccade's first sample (start_utc_us)",
    tags=(SESSION, DEVICE, ALGORITHM, RECORDING),
    fields=(
        Field("number", "integer", "", "Saccade number within the session."),
        Field("duration_ms", "float", "ms", "Last sample minus first sample (the PSO after it not included)."),
        Field("end_utc_us", "integer", "µs", "UTC of the saccade's last sample."),
        Field("amplitude_deg", "float", "deg", "Angle between the gaze at the first and the last sample."),
        Field("peak_velocity_deg_s", "float", "deg/s", "Highest gaze velocity in the saccade."),
        Field("direction_deg", "float", "deg", "Counter-clockwise from rightwards: 0 right, 90 up, 180 left, -90 down."),
        *_START_END,
        Field("pso_duration_ms", "float", "ms", "Post-saccadic oscillation after the saccade; 0 if none."),
    ),
)

PURSUIT = Measurement(
    name="pursuit",
    description="One point per smooth-pursuit segment (algorithm ivd), written when it is over.",
    time="the segment's first sample (start_utc_us)",
    tags=(SESSION, DEVICE, ALGORITHM, RECORDING),
    fields=(
        Field("number", "integer", "", "Pursuit number within the session."),
        Field("duration_ms", "float", "ms", "Last sample minus first sample."),
        Field("end_utc_us", "integer", "µs", "UTC of the segment's last sample."),
        Field("mean_velocity_deg_s", "float", "deg/s", "Mean gaze speed over the segment."),
        Field("amplitude_deg", "float", "deg", "Angle between the gaze at the first and the last sample."),
        Field("direction_deg", "float", "deg", "From the first to the last sample, as for saccades."),
        *_START_END,
        Field("samples", "integer", "", "Samples in the segment (gap-filled ones included)."),
    ),
)

BLINK = Measurement(
    name="blink",
    description="One point per blink or loss of the eye longer than the gap fill-in (algorithm ivd), written when it is over.",
    time="the blink's first invalid sample (start_utc_us)",
    tags=(SESSION, DEVICE, ALGORITHM, RECORDING),
    fields=(
        Field("number", "integer", "", "Blink number within the session."),
        Field("duration_ms", "float", "ms", "Last valid sample before to first valid sample after."),
        Field("end_utc_us", "integer", "µs", "UTC of the blink's last invalid sample."),
        Field("samples", "integer", "", "Invalid samples in the blink."),
    ),
)

ALERT = Measurement(
    name="alert",
    description="Every alert message, raised and cleared.",
    time="the alert's utc_us (sample time, see the alerts table)",
    tags=(
        SESSION,
        Tag("type", "long_fixation, aoi_dwell, gaze_lost, agent_offline, sample_rate_low or drowsiness."),
        Tag("state", "raised or cleared."),
        RECORDING,
    ),
    fields=(
        Field("active", "integer", "0/1", "1 when raised, 0 when cleared."),
        Field("severity", "string", "", "info, warning or critical."),
        Field("details", "string", "JSON", "The alert's details object."),
    ),
)

AOI_VISIT = Measurement(
    name="aoi_visit",
    description="One point per visit of an area of interest, written when the visit ends.",
    time="the visit's first fixation start",
    tags=(SESSION, Tag("aoi", "AOI name from the AOI file."), RECORDING),
    fields=(
        Field("dwell_ms", "float", "ms", "First fixation start to last fixation end inside the AOI."),
        Field("fixations", "integer", "", "Fixations in the visit."),
        Field("end_utc_us", "integer", "µs", "UTC of the visit's last fixation end."),
    ),
)

AGENT_STATUS = Measurement(
    name="agent_status",
    description="Every agent status message the processor receives.",
    time="the status's utc (the processor's receive time for a last will, which has none)",
    tags=(SESSION,),
    fields=(
        Field("state", "string", "", "online, tracking, waiting_for_tracker, tracker_lost, stopped, offline."),
        Field("state_code", "integer", "", "The state as a number (see AGENT_STATE_CODES) for state timelines."),
        Field("samples_in", "integer", "", "Samples the agent received from the tracker."),
        Field("samples_published", "integer", "", "Samples in batches the broker acknowledged."),
        Field("samples_dropped", "integer", "", "Samples the agent lost (queue overflow + outbox eviction)."),
        Field("outbox_depth", "integer", "", "Batches waiting in the agent's outbox."),
        Field("reconnects", "integer", "", "Broker reconnections of the agent."),
    ),
)

MARKER = Measurement(
    name="marker",
    description="Event markers (lab/<session>/events), for annotations.",
    time="the marker's utc_ns, truncated to µs",
    tags=(SESSION, Tag("source", "command or local."), RECORDING),
    fields=(Field("name", "string", "", "Marker name."),),
)

MEASUREMENTS: tuple[Measurement, ...] = (
    GAZE,
    FIXATION,
    SACCADE,
    PURSUIT,
    BLINK,
    ALERT,
    AOI_VISIT,
    AGENT_STATUS,
    MARKER,
)

AGENT_STATE_CODES: dict[str, int] = {
    "offline": 0,
    "stopped": 1,
    "waiting_for_tracker": 2,
    "tracker_lost": 3,
    "online": 4,
    "tracking": 5,
}


def measurement(name: str) -> Measurement:
    for candidate in MEASUREMENTS:
        if candidate.name == name:
            return candidate
    raise UnknownNameError(f"no measurement {name!r}; known: {', '.join(m.name for m in MEASUREMENTS)}")


def markdown_table() -> str:
    """The storage table of docs/processor.md."""
    lines = ["| measurement | tags | field | type | unit | meaning |", "|---|---|---|---|---|---|"]
    for m in MEASUREMENTS:
        tags = ", ".join(m.tag_names)
        for index, field in enumerate(m.fields):
            first = index == 0
            lines.append(
                f"| {'`' + m.name + '`' if first else ''} | {tags if first else ''} | `{field.name}` "
                f"| {field.kind} | {field.unit} | {field.description} |"
            )
    lines.append("")
    lines.append("Timestamps: " + "; ".join(f"`{m.name}`: {m.time}" for m in MEASUREMENTS) + ".")
    return "\n".join(lines) + "\n"

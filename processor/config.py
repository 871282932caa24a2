"""The processor's settings. ``gazewire processor sample-config`` prints them all,
commented out at their defaults, from the descriptions below.

The processor reads the same sources as the agent (``GAZEWIRE_*`` environment
variables, ``.env``, a TOML file, flags), so one ``.env`` can serve both on a
demo machine: the processor's own settings have names the agent does not use
(``processor_id``, ``algorithm``, ``[influx]``, ``[alerts]``, ...).
"""

from __future__ import annotations

import re
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)

from gazewire.wire.messages import AlertType
from gazewire.mqtt import MqttSettings
from gazewire.wire.sessions import parse_shard, validate_session_id
from gazewire.settings import (
    DataDirSetting,
    GazewireSettings,
    LogLevel,
    SessionSetting,
    TopicPrefixSetting,
    default_data_dir,
    host_name_id,
)
from gazewire.wire.topics import DEFAULT_PREFIX
from gazewire.processor.pipeline.eye_movements import (
    DetectorParameters,
    IDTParameters,
    IVTParameters,
    MovementParameters,
)
from gazewire.processor.pipeline.eye_movements.parameters import Choice, Flag, Number, OddInteger, Rule, rule_of

ALERT_TYPES: tuple[AlertType, ...] = (
    "long_fixation",
    "aoi_dwell",
    "gaze_lost",
    "agent_offline",
    "agent_silent",
    "sample_rate_low",
    "drowsiness",
)


def default_processor_id() -> str:
    """The host name, made into a valid id (``LAB-SERVER`` stays as it is)."""
    return host_name_id("processor")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DetectorSettings(_Section):
    """Settings of one detector, derived from its parameter dataclass (:func:`detector_settings`)."""

    parameter_class: ClassVar[type[DetectorParameters]]

    def parameters(self) -> DetectorParameters:
        """The detector's parameters (parameters these settings leave out keep their defaults)."""
        return self.parameter_class(**{name: _parameter_value(value) for name, value in self.model_dump().items()})

    @model_validator(mode="after")
    def _parameters_agree(self) -> DetectorSettings:
        # rules that join two parameters (e.g. one window at most another) are the dataclass's
        self.parameters()
        return self


def detector_settings(
    parameter_class: type[DetectorParameters], name: str, doc: str, *, leave_out: tuple[str, ...] = ()
) -> type[DetectorSettings]:
    """A settings table with the fields of ``parameter_class``: the same names, defaults, allowed
    values and descriptions, stated once, in the dataclass. A choice of ``None`` is written
    ``"none"`` (TOML has no null)."""
    definitions: dict[str, Any] = {}
    for item in fields(parameter_class):
        if item.name in leave_out:
            continue
        rule = rule_of(item)
        annotation: Any
        if isinstance(rule, Choice):
            annotation = Literal[tuple(_setting_value(choice) for choice in rule.choices)]  # type: ignore[misc]
        else:
            annotation = Annotated[_SETTING_TYPES[type(rule)], AfterValidator(partial(_check_setting, rule))]
        definitions[item.name] = (
            annotation,
            Field(_setting_value(item.default), description=item.metadata["description"]),
        )
    model = create_model(name, __base__=DetectorSettings, __doc__=doc, __module__=__name__, **definitions)
    model.parameter_class = parameter_class
    return model


_SETTING_TYPES: dict[type[Rule], type] = {Flag: bool, Number: float, OddInteger: int}


def _check_setting(rule: Rule, value: object) -> object:
    if not rule.accepts(value):
        raise ValueError(f"must be {rule.allowed()}")
    return value


def _setting_value(value: object) -> object:
    return "none" if value is None else value


def _parameter_value(value: object) -> object:
    return None if value == "none" else value


if TYPE_CHECKING:  # what create_model makes, spelled out for type checkers

    class IVTSettings(DetectorSettings): ...

    class IDTSettings(DetectorSettings): ...

    class IVDSettings(DetectorSettings): ...

else:
    IVTSettings = detector_settings(
        IVTParameters,
        "IVTSettings",
        "The Tobii I-VT fixation filter (Olsen 2012); defaults are Tobii's published ones.",
        leave_out=("merge_decision",),  # the offline rule; the processor reports fixations while they happen
    )
    IDTSettings = detector_settings(
        IDTParameters,
        "IDTSettings",
        "Dispersion-threshold identification (Salvucci & Goldberg 2000), when algorithm = idt.",
    )
    IVDSettings = detector_settings(
        MovementParameters,
        "IVDSettings",
        "Fixations, saccades, smooth pursuit and blinks by velocity and displacement (I-VD), "
        "when algorithm = ivd.",
    )


class AlertSettings(_Section):
    """Alert thresholds. Every alert is one ``raised`` and one ``cleared`` message."""

    enabled: list[AlertType] = Field(
        list(ALERT_TYPES),
        description="Alert types to raise: long_fixation, aoi_dwell, gaze_lost, agent_offline, "
        "agent_silent, sample_rate_low, drowsiness (needs algorithm = ivd, which reports blinks).",
    )
    long_fixation_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="A fixation longer than this raises long_fixation (staring, drowsiness). "
        "Lower warns sooner and more often.",
    )
    aoi_dwell_s: float = Field(
        3.0,
        gt=0,
        le=86_400,
        description="Gaze in one area of interest longer than this raises aoi_dwell (an AOI may "
        "set its own dwell_s in the AOI file).",
    )
    gaze_lost_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="No valid gaze for this long while the agent is tracking raises gaze_lost. "
        "Shorter than a blink (0.1-0.3 s) raises it on every blink.",
    )
    agent_silent_s: float = Field(
        60.0,
        ge=10,
        le=86_400,
        description="An agent whose status says it is there but has not been refreshed for this "
        "long (or for four of its own status intervals, if longer) raises agent_silent: it hangs, "
        "or was killed while the broker was down, so no last will came. Judged only while the "
        "processor is connected; shorter notices sooner, but a busy broker may then raise it.",
    )
    sample_rate_window_s: float = Field(
        5.0,
        ge=0.5,
        le=3600,
        description="Sample time over which the observed sample rate is measured. Longer is "
        "steadier but notices a drop later.",
    )
    sample_rate_low_ratio: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="sample_rate_low is raised when the observed rate is below this fraction of "
        "the tracker's nominal rate, and cleared when it is back above it.",
    )
    drowsiness_window_s: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="Sample time over which drowsiness judges blinks: one minute, as PERCLOS "
        "(Wierwille et al. 1994). Longer is steadier but clears later.",
    )
    blink_rate_per_min: float = Field(
        30.0,
        gt=0,
        le=600,
        description="drowsiness is raised at this many blinks per minute over the window. People "
        "blink ~17/min at rest, 26 talking, 4.5 reading (Bentivoglio et al. 1997); the rate "
        "rises with fatigue (Stern et al. 1994). Lower warns more often.",
    )
    long_closure_ms: float = Field(
        500.0,
        gt=0,
        le=60_000,
        description="drowsiness is raised by one eye closure (blink) this long: long closures are "
        "the surest blink sign of drowsiness (Caffier et al. 2003); 0.5 s is the usual lower "
        "bound of a microsleep. Above gaze_lost_s, gaze_lost is raised as well.",
    )

    @field_validator("enabled")
    @classmethod
    def _unique(cls, value: list[AlertType]) -> list[AlertType]:
        return list(dict.fromkeys(value))


class JournalSettings(_Section):
    """The journal: every batch (and what the processor derived) on disk before the broker's
    PUBACK; the sinks catch up from it, agents forget a batch once it holds it. See
    docs/reliability.md for what disk size buys how many hours."""

    enabled: bool = Field(
        True,
        description="Keep the journal. Off: no custody (batches are acknowledged once handled, agents "
        "fall back to the broker's PUBACK), and a sink outage loses what overflows influx.buffer_points.",
    )
    path: Path | None = Field(None, description="The journal's SQLite file. Empty: <data_dir>/journal.sqlite.")
    max_gb: float = Field(
        0.0,
        ge=0,
        description="Size limit in GB; above it the oldest records are evicted and counted "
        "(journal.evicted_*). 0: no limit (the disk is; a full disk stops acknowledgements instead).",
    )
    retention_days: float = Field(
        0.0, ge=0, description="Evict records older than this many days (counted). 0: keep for ever (an archive)."
    )
    max_group_messages: int = Field(
        500,
        ge=1,
        le=100_000,
        description="Most messages committed in one transaction (group commit: one fsync for all "
        "the messages already waiting). Larger commits fewer times under load.",
    )
    retry_s: float = Field(
        2.0, gt=0, le=600, description="How often a failed commit (disk full, I/O error) is tried again."
    )

    @property
    def max_bytes(self) -> int:
        return int(self.max_gb * 1e9)

    @property
    def max_age_s(self) -> float:
        return self.retention_days * 86_400.0


class InfluxSettings(_Section):
    """InfluxDB 2.x. Without a url, points go to line-protocol files instead."""

    url: str | None = Field(
        None,
        description="InfluxDB 2.x base URL, e.g. http://localhost:8086. Empty: write line-protocol "
        "files to lineprotocol_dir (import them later with influx write).",
    )
    org: str = Field("gazewire", min_length=1, description="InfluxDB organisation (name or id).")
    bucket: str = Field("gazewire", min_length=1, description="Bucket the points are written to.")
    token: SecretStr = Field(
        SecretStr(""), description="API token with write access to the bucket. Never printed or logged."
    )
    timeout_s: float = Field(
        10.0, gt=0, le=600, description="HTTP timeout of one write request. Shorter notices an outage sooner."
    )
    batch_points: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Points per write request. Larger is more efficient, smaller retries less on failure.",
    )
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest time a point waits before being written while InfluxDB is up: the "
        "delay until Grafana shows it.",
    )
    gaze_hz: float = Field(
        0.0,
        ge=0,
        le=100_000,
        description="Most gaze points per second and session the sink writes (InfluxDB, or the "
        "line-protocol files): every k-th sample by seq, k = ceil(tracker rate / gaze_hz), so a "
        "replay writes the same ones. 0: every sample. The journal keeps every sample either way, "
        "and fixations, saccades, pursuits, blinks, alerts, AOI visits, markers and agent statuses "
        "are always all written. At 1200 Hz the gaze points are most of the sink's work "
        "(docs/performance.md): 120 is a tenth of it, and Grafana's panels average per pixel anyway.",
    )
    buffer_points: int = Field(
        500_000,
        ge=100,
        description="Only without the journal (journal.enabled = false): points kept in memory while "
        "InfluxDB is unreachable (about 500 bytes each); when full, the oldest are dropped and counted. "
        "With the journal nothing waits in memory: the sink catches up from the journal.",
    )
    retry_min_s: float = Field(0.5, gt=0, le=60, description="First retry delay after a failed write; doubles per failure.")
    retry_max_s: float = Field(30.0, gt=0, le=3600, description="Cap of the retry delay.")
    verify_ssl: bool = Field(True, description="Check the server's TLS certificate (https URLs).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must start with http:// or https:// followed by a host")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _checks(self) -> InfluxSettings:
        # checked here, not on the field, so that the error does not echo the URL and its password
        if self.url is not None and "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("url must not contain credentials (they would be logged); set influx.token")
        if self.retry_max_s < self.retry_min_s:
            raise ValueError("retry_max_s must be at least retry_min_s")
        return self


class ProcessorSettings(GazewireSettings):
    """Settings of the processor on the lab server."""

    processor_id: str = Field(
        default_factory=default_processor_id,
        description="Name of this processor: its status topic lab/_sys/processor/<id>/status and "
        "part of its default MQTT client id. Keep it fixed. (The lab broker keeps the persistent "
        "session under the processor's user name.) Default: the host name.",
    )
    topic_prefix: TopicPrefixSetting = Field(DEFAULT_PREFIX, description="First topic level(s) of every message.")
    sessions: list[SessionSetting] = Field(
        [],
        description="Sessions to process; messages of any other session are counted as bad input "
        "(unknown_session). Empty: every session that appears.",
    )
    shard: str | None = Field(
        None,
        description="k/n: run n processors side by side on one broker, this one taking the sessions "
        "whose stable hash (CRC-32 of the session id) modulo n is k - 1; each gets every message "
        "and acknowledges the other shards' at once without handling them (counted in "
        "other_shard_messages). Every session stays on one processor (per-session state) and each "
        "processor keeps its own journal (give each its own data_dir). Empty: every session.",
    )
    shared_group: str | None = Field(
        None,
        description="Read through MQTT 5 shared subscriptions $share/<group>/... with the other "
        "processors of the group: only for a broker that keeps each session on one member (EMQX "
        "with shared_subscription_strategy hash_clientid). Mosquitto shares round-robin, which "
        "would split a session's batches between processors: use shard there. Empty: no sharing.",
    )
    algorithm: Literal["ivt", "idt", "ivd"] = Field(
        "ivd",
        description="Eye-movement detector: ivd (fixations, saccades, smooth pursuit and blinks, "
        "settings in [ivd]), ivt (Tobii I-VT, fixations only, [ivt]) or idt (dispersion, [idt]).",
    )
    ivd: IVDSettings = Field(default_factory=IVDSettings, description="I-VD parameters (algorithm = ivd).")
    ivt: IVTSettings = Field(default_factory=IVTSettings, description="I-VT fixation filter parameters (algorithm = ivt).")
    idt: IDTSettings = Field(default_factory=IDTSettings, description="I-DT parameters (algorithm = idt).")
    default_display_width_mm: float = Field(
        527.0,
        gt=0,
        le=10_000,
        description="Display-area width used until an agent reports its own (status display_area). "
        "Wrong sizes scale all visual angles, hence velocities and merge distances.",
    )
    default_display_height_mm: float = Field(
        296.5, gt=0, le=10_000, description="Display-area height used until an agent reports its own."
    )
    default_eye_distance_mm: float = Field(
        650.0,
        gt=0,
        le=10_000,
        description="Eye-to-display distance used while the tracker reports no valid gaze origin. "
        "Visual angles scale with 1/distance.",
    )
    aoi_file: Path | None = Field(
        None,
        description="TOML file of areas of interest (rectangles in normalised display "
        "coordinates, global or per session); see examples/aoi.toml. Empty: no AOIs.",
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="Alert thresholds.")
    journal: JournalSettings = Field(default_factory=JournalSettings, description="The journal (custody, catch-up, archive).")
    influx: InfluxSettings = Field(
        default_factory=InfluxSettings, description="InfluxDB 2.x (empty url: line-protocol files)."
    )
    data_dir: DataDirSetting = Field(
        default_factory=default_data_dir,
        description="The processor's files: the journal (journal.sqlite, unless journal.path says "
        "otherwise) and line-protocol files under lineprotocol/ (unless lineprotocol_dir does).",
    )
    lineprotocol_dir: Path | None = Field(
        None,
        description="Where line-protocol files go when no InfluxDB url is set: "
        "<dir>/<session>/<YYYY-MM-DD>.lp. Empty: <data_dir>/lineprotocol.",
    )
    max_payload_kb: int = Field(
        16_384,
        ge=16,
        le=262_144,
        description="Larger messages are refused unread (bad input too_large). Must exceed the "
        "largest batch: about 0.5 kB per sample.",
    )
    max_sessions: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Sessions tracked at once; bounds memory against a flood of made-up session "
        "ids. When full, a new session makes room: the longest-idle session goes if it has been "
        "quiet for idle_session_s / 60, else the oldest that has had one message only (a made-up "
        "id looks like that; an agent's statuses and batches come again and again). Only when "
        "every session is established and active is the new one refused (too_many_sessions).",
    )
    idle_session_s: float = Field(
        3600.0,
        ge=10,
        description="A session with no message for this long is forgotten (its open fixation "
        "ended). Its next message starts it afresh.",
    )
    status_sessions: int = Field(
        50,
        ge=1,
        le=100_000,
        description="Sessions summarised in the retained status, which every subscriber receives "
        "again on each refresh: the most relevant ones (established and active first, then the "
        "most refused); the counters count them all. More shows more of a large lab, and costs "
        "about 1 KB per session per refresh.",
    )
    status_interval_s: float = Field(
        5.0, ge=0.5, le=3600, description="How often the retained processor status (with counters) is refreshed."
    )
    log_level: LogLevel = Field("INFO", description="Log verbosity.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The lab broker.")

    @field_validator("processor_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_session_id(value)

    @field_validator("shard")
    @classmethod
    def _valid_shard(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        k, n = parse_shard(value)
        return f"{k}/{n}"

    @field_validator("shared_group")
    @classmethod
    def _valid_group(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
            raise ValueError("must be 1 to 64 letters, digits, '.', '_' or '-' (it is a topic level)")
        return value

    @model_validator(mode="after")
    def _one_way_to_share(self) -> ProcessorSettings:
        if self.shard is not None and self.shared_group is not None:
            raise ValueError("set shard or shared_group, not both (two ways of dividing the sessions)")
        return self

    @field_validator("aoi_file")
    @classmethod
    def _aoi_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"aoi_file {str(value)!r} does not exist")
        return value

    # ------------------------------------------------------------------ derived

    @property
    def journal_path(self) -> Path:
        return Path(self.journal.path or Path(self.data_dir) / "journal.sqlite").expanduser()

    @property
    def lineprotocol_path(self) -> Path:
        return Path(self.lineprotocol_dir or Path(self.data_dir) / "lineprotocol").expanduser()

    @property
    def detector_parameters(self) -> DetectorParameters:
        """The chosen detector's parameters."""
        section: DetectorSettings = getattr(self, self.algorithm)
        return section.parameters()

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_kb * 1024

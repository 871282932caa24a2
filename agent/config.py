"""The agent's settings. ``gazewire agent sample-config`` prints them all,
commented out at their defaults, from the descriptions below."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gazewire.mqtt import MqttSettings
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


class SourceKind(str, Enum):
    TOBII = "tobii"
    SIMULATED = "simulated"
    REPLAY = "replay"


def default_session() -> str:
    """The host name, made into a valid session id."""
    return host_name_id("gazewire")


class AgentSettings(GazewireSettings):
    """Settings of the edge agent on a tracker PC."""

    session: SessionSetting = Field(
        default_factory=default_session,
        description="Session id: 1-64 letters, digits, '.', '_', '-'. Becomes the topic level "
        "lab/<session>/..., the recording's file name and the InfluxDB tag. Default: the host name.",
    )
    topic_prefix: TopicPrefixSetting = Field(DEFAULT_PREFIX, description="First topic level(s) of every message.")
    source: SourceKind = Field(
        SourceKind.TOBII,
        description="Where gaze comes from: tobii (the Tobii Pro SDK), simulated (realistic "
        "synthetic gaze, no hardware) or replay (a recording made by this agent).",
    )
    tracker_address: str | None = Field(
        None,
        description="Tobii tracker address (e.g. tet-tcp://10.0.0.5), connected to without a search. "
        "Empty: the tracker with tracker_serial, else the lowest serial number found.",
    )
    tracker_serial: str | None = Field(
        None,
        description="Serial number of the Tobii tracker to use (gazewire agent list-trackers shows them), "
        "for a PC with more than one. Empty: the lowest serial number found.",
    )
    tracker_lost_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="After the connection to the tracker is lost, how long to wait for the SDK to restore "
        "it before searching for the tracker again. Shorter recovers sooner; longer spares the search.",
    )
    frequency_hz: float | None = Field(
        None,
        ge=30,
        le=1200,
        description="Gaze output frequency to request. Empty: the tracker's current one "
        "(simulated: 120). Higher rates cost bandwidth and disk but resolve saccades.",
    )
    seed: int = Field(0, description="Random seed of the simulated tracker (same seed, same gaze).")
    replay_file: Path | None = Field(None, description="Recording (CSV) to replay when source = replay.")
    speed: float = Field(
        1.0, gt=0, le=1000, description="Replay/simulation speed: 1 is real time, 10 ten times faster."
    )
    sample_limit: int | None = Field(
        None, ge=1, description="Simulated source only: stop after this many samples (tests, demos)."
    )
    publish_hz: float = Field(
        20.0,
        gt=0,
        le=200,
        description="Live gaze messages per second, and batches per second. Higher is a smoother "
        "live view and lower latency for the processor, at more messages on the broker.",
    )
    status_interval_s: float = Field(
        5.0, ge=0.5, le=3600, description="How often the retained status (with counters) is refreshed."
    )
    clock_resync_s: float = Field(
        60.0, ge=1, le=86_400, description="How often the tracker-clock to UTC offset is re-measured."
    )
    clock_probes: int = Field(9, ge=1, le=1000, description="Probes per clock measurement; the best one wins.")
    queue_size: int = Field(
        120_000,
        ge=100,
        description="Samples the SDK callback can queue before the agent's pipeline takes them "
        "(100 s at 1200 Hz). Overflow is counted as samples_dropped_queue.",
    )
    exit_when_finished: bool = Field(
        False,
        description="Shut down cleanly when a replay or a limited simulation ends "
        "(batch jobs); otherwise stay online and report 'stopped'.",
    )
    autostart: bool = Field(True, description="Start streaming at launch; false waits for a 'start' command.")
    data_dir: DataDirSetting = Field(
        default_factory=default_data_dir,
        description="Local recordings (recordings/<session>/<recording>_<name>.csv with a .json sidecar each; "
        "recordings/<session>.csv between recordings) and the outbox (outbox/<session>.sqlite3).",
    )
    record: bool = Field(
        True,
        description="Write every sample at full rate to local CSV files (the safety net): one per recording "
        "with its JSON sidecar, and the session's file between recordings.",
    )
    keep_unrecorded: bool = Field(
        True,
        description="Between recordings (before a start, after a stop), keep the samples: in batches with "
        "recording null and in the session's CSV, so a forgotten start loses nothing. false: between "
        "recordings gaze only goes to the live view (counted as samples_live_only).",
    )
    outbox_max_mb: float = Field(
        512.0,
        gt=0,
        description="Disk the outbox may use while the broker is unreachable (about 40 h at 120 Hz). "
        "When full, the oldest batches are evicted and counted.",
    )
    outbox_max_age_h: float = Field(
        72.0, gt=0, description="Batches older than this are evicted (and counted) even if there is room."
    )
    outbox_sync: Literal["full", "normal"] = Field(
        "full",
        description="SQLite synchronous mode: full survives power loss, normal only a crash but costs less I/O.",
    )
    inflight_window: int = Field(
        10,
        ge=1,
        le=1000,
        description="Batches sent but not yet acknowledged. Larger drains a backlog faster over "
        "high-latency links; smaller keeps the live view responsive.",
    )
    backlog_batches_per_s: float = Field(
        100.0,
        gt=0,
        description="Rate limit when replaying a backlog after an outage (live cadence is publish_hz).",
    )
    custody_timeout_s: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="With a processor online: a batch the broker took but no processor confirmed "
        "(gaze/custody) within this time is sent again. Shorter recovers sooner from a lost "
        "confirmation, at the cost of duplicates the processor drops.",
    )
    custody_fallback_s: float = Field(
        120.0,
        gt=0,
        description="With no processor online (no fresh retained processor status with a journal) for "
        "this long, the broker's PUBACK lets a batch leave the outbox (a lab that only records). "
        "Longer rides out longer processor restarts.",
    )
    log_level: LogLevel = Field("INFO", description="Log verbosity.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The lab broker.")

    @model_validator(mode="after")
    def _source_needs(self) -> AgentSettings:
        if self.source is SourceKind.REPLAY:
            if self.replay_file is None:
                raise ValueError("replay_file: source 'replay' needs a recording to replay")
            if not Path(self.replay_file).expanduser().is_file():
                raise ValueError(f"replay_file: {str(self.replay_file)!r} does not exist")
        if self.tracker_address is not None and "://" not in self.tracker_address:
            raise ValueError(
                f"tracker_address: {self.tracker_address!r} is not an address like tet-tcp://10.0.0.5; "
                "to choose a tracker by its serial number, set tracker_serial"
            )
        if self.tracker_address is not None and self.tracker_serial is not None:
            raise ValueError("tracker_serial: set tracker_address or tracker_serial, not both")
        if self.frequency_hz is not None and self.source is SourceKind.SIMULATED and self.frequency_hz < 60:
            raise ValueError("frequency_hz: the simulated tracker runs at 60 to 1200 Hz")
        return self

    # ------------------------------------------------------------------ derived paths

    @property
    def recording_dir(self) -> Path:
        return Path(self.data_dir).expanduser() / "recordings"

    @property
    def outbox_path(self) -> Path:
        return Path(self.data_dir).expanduser() / "outbox" / f"{self.session}.sqlite3"

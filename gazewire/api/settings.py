"""The HTTP API's settings. ``gazewire api sample-config`` prints them all,
commented out at their defaults (examples/api.sample.toml).

Read like every gazewire setting (flags, ``GAZEWIRE_*`` variables, ``.env``, a
TOML file). The API shares names with the processor where they mean the same
thing, so one ``.env`` on the lab server serves both: ``data_dir`` and
``journal.path`` find the processor's journal, ``mqtt`` and ``topic_prefix``
the broker. Its own settings are in ``[api]`` (``GAZEWIRE_API__*``).

The tokens are secrets: never printed (``gazewire api config`` masks them),
never logged, never in an error message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from gazewire.mqtt import MqttSettings
from gazewire.settings import GazewireSettings, LogLevel, TopicPrefixSetting, default_data_dir
from gazewire.wire.topics import DEFAULT_PREFIX


class JournalLocation(BaseModel):
    """Where the processor's journal is (the processor's own ``journal.path``; its other
    journal settings, in a shared ``.env``, are the processor's business)."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    path: Path | None = Field(None, description="The journal's SQLite file. Empty: <data_dir>/journal.sqlite.")


class ServerSettings(BaseModel):
    """The HTTP server and who may use it."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    listen: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address to listen on: 127.0.0.1 for this computer only, 0.0.0.0 for the lab network "
        "(the compose service listens on 0.0.0.0 inside its container).",
    )
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the API (http://<server>:<port>/api/docs).")
    tokens_file: Path | None = Field(
        None,
        description="File of bearer tokens, one per line: '<role> <name> <token>', role viewer (read) or "
        "operator (read, and start, stop, annotate recordings); '#' starts a comment. The name is what "
        "the log shows instead of the token. Keep it readable by the API only (chmod 600).",
    )
    viewer_tokens: SecretStr | None = Field(
        None, description="Read-only bearer tokens, comma-separated (besides tokens_file). Never printed or logged."
    )
    operator_tokens: SecretStr | None = Field(
        None,
        description="Operator bearer tokens, comma-separated: may also start, stop and annotate recordings. "
        "Never printed or logged.",
    )
    command_timeout_s: float = Field(
        5.0, gt=0, le=120, description="How long a start/stop/annotate waits for the agent's reply (then 504)."
    )
    chunk_rows: int = Field(
        16_384,
        ge=256,
        le=1_048_576,
        description="Rows read and sent at a time while streaming data: a download holds about one chunk "
        "(measured: about 100 MB of server memory per gaze download at 16384; it scales with this).",
    )
    max_downloads: int = Field(
        8,
        ge=1,
        le=256,
        description="Data downloads streamed at the same time; one more is refused with 503 and Retry-After "
        "(memory stays bounded: max_downloads x one chunk).",
    )

    @field_validator("tokens_file")
    @classmethod
    def _tokens_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"tokens_file {str(value)!r} does not exist")
        return value


class ApiSettings(GazewireSettings):
    """``gazewire api run``: the lab server's HTTP API over the processor's journal."""

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The processor's files (its journal is <data_dir>/journal.sqlite): the same "
        "GAZEWIRE_DATA_DIR as the processor's.",
    )
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    topic_prefix: TopicPrefixSetting = Field(
        DEFAULT_PREFIX, description="First topic level(s) of the agents' command topics (lab/<session>/cmd)."
    )
    api: ServerSettings = Field(default_factory=ServerSettings, description="The HTTP server and its tokens.")
    journal: JournalLocation = Field(default_factory=JournalLocation, description="The processor's journal.")
    mqtt: MqttSettings = Field(
        default_factory=MqttSettings,
        description="The broker, for starting, stopping and annotating recordings (a broker user of role "
        "operator: python3 -m gazewire.cli.users add api --role operator). Reading data needs no broker.",
    )

    @property
    def journal_path(self) -> Path:
        return Path(self.journal.path or Path(self.data_dir) / "journal.sqlite").expanduser()

"""Settings machinery shared by the agent and the processor (pydantic-settings).

Where a setting comes from, highest priority first:

1. command-line flags (``--session s1``, ``--set mqtt.port=1884``),
2. environment variables ``GAZEWIRE_<NAME>`` (nested: ``GAZEWIRE_MQTT__HOST``),
3. a ``.env`` file in the working directory,
4. a TOML file (``--config agent.toml`` or ``GAZEWIRE_CONFIG``),
5. the defaults.

Bad settings raise :class:`SettingsError` with one line that names the
setting; the command line turns it into exit code 2. Secrets are
``SecretStr`` and print as ``**********``.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import textwrap
from enum import Enum
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gazewire.errors import SettingsError
from gazewire.wire.topics import validate_prefix, validate_session_level

ENV_PREFIX = "GAZEWIRE_"
MASK = "**********"

_config_file: ContextVar[Path | None] = ContextVar("gazewire_config_file", default=None)


def host_name_id(fallback: str) -> str:
    """The host name as a valid session/processor id (``TRACKER-PC-1`` stays as it is)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().split(".")[0])[:64]
    return name or fallback


def default_data_dir() -> Path:
    """Where gazewire keeps its files (one rule, so one ``GAZEWIRE_DATA_DIR`` serves agent and processor).

    systemd's ``StateDirectory`` (``$STATE_DIRECTORY``) when run as a service,
    ``%LOCALAPPDATA%\\gazewire`` on Windows, ``$XDG_DATA_HOME/gazewire``
    (``~/.local/share/gazewire``) elsewhere.
    """
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "gazewire"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gazewire"


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


# Setting types shared by the agent and the processor.
SessionSetting = Annotated[str, AfterValidator(validate_session_level)]
TopicPrefixSetting = Annotated[str, AfterValidator(validate_prefix)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class GazewireSettings(BaseSettings):
    """Base class: environment, .env and TOML file as described in the module docstring."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",  # agent and processor share one .env; unknown TOML keys are checked below
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        config_file = _config_file.get()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def load_settings(
    settings_cls: type[GazewireSettings],
    *,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """Build ``settings_cls`` from all sources; raise SettingsError with one clear line.

    ``overrides`` come from command-line flags and may use dotted names for
    nested settings (``{"mqtt.port": 1884}``).
    """
    if config_file is None and os.environ.get(ENV_PREFIX + "CONFIG"):
        config_file = os.environ[ENV_PREFIX + "CONFIG"]
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise SettingsError(f"config file {str(path)!r} does not exist")
        _check_toml_keys(settings_cls, path)
    init = _nest(overrides or {})
    token = _config_file.set(path)
    try:
        return settings_cls(**init)
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error, settings_cls)) from None
    finally:
        _config_file.reset(token)


def describe_settings_error(error: ValidationError, settings_cls: type[BaseModel]) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ())]
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    # Model-level checks name their field as "field: problem" (several fields are involved).
    named = re.match(r"^([a-z_]+): (.*)$", message)
    if named and named.group(1) in _fields_at(settings_cls, location):
        location.append(named.group(1))
        message = named.group(2)
    name = ".".join(location) or "settings"
    env_name = ENV_PREFIX + "__".join(location).upper()
    value = first.get("input")
    shown = "" if _is_secret_path(settings_cls, location) else f" (got {value!r})"
    if isinstance(value, dict) or first.get("type") == "missing":
        shown = ""
    more = error.error_count() - 1
    suffix = f"; {more} more problem{'s' if more > 1 else ''}" if more > 0 else ""
    return f"invalid setting {name}: {message}{shown} [env {env_name}]{suffix}"


def _fields_at(settings_cls: type[BaseModel], location: list[str]) -> set[str]:
    model: Any = settings_cls
    for part in location:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return set()
        model = fields[part].annotation
    return set(getattr(model, "model_fields", {}))


def _is_secret_path(settings_cls: type[BaseModel], location: list[str]) -> bool:
    model: Any = settings_cls
    for part in location:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return False
        annotation = fields[part].annotation
        if _mentions_secret(annotation):
            return True
        model = annotation
    return False


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in getattr(annotation, "__args__", ()) or ())


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        parts = key.split(".")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return nested


def _check_toml_keys(settings_cls: type[BaseModel], path: Path) -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    _check_keys(settings_cls, document, prefix="", path=path)


def _check_keys(model: type[BaseModel], document: dict[str, Any], *, prefix: str, path: Path) -> None:
    fields = model.model_fields
    for key, value in document.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise SettingsError(
                f"invalid setting {prefix}{key}: unknown setting in {str(path)!r} (known: {known})"
            )
        annotation = fields[key].annotation
        if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _check_keys(annotation, value, prefix=f"{prefix}{key}.", path=path)


# --------------------------------------------------------------------------- printing


def masked_settings(settings: BaseModel) -> dict[str, Any]:
    """The settings as plain data with every secret replaced by ``**********``."""

    def convert(model: BaseModel) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                result[name] = MASK if value.get_secret_value() else ""
            elif isinstance(value, BaseModel):
                result[name] = convert(value)
            elif isinstance(value, Path):
                result[name] = str(value)
            elif isinstance(value, Enum):
                result[name] = value.value
            elif isinstance(value, tuple):
                result[name] = list(value)
            else:
                result[name] = value
        return result

    return convert(settings)


def to_toml(data: dict[str, Any]) -> str:
    """Plain data as TOML (flat keys first, then one table per nested model)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(_toml_line(key, value))
    for name, table in tables:
        lines.append("")
        lines.append(f"[{name}]")
        lines.extend(_toml_line(key, value) for key, value in table.items())
    return "\n".join(lines) + "\n"


def _toml_line(key: str, value: Any) -> str:
    return f"# {key} is not set" if value is None else f"{key} = {_toml_value(value)}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def sample_config(settings_cls: type[BaseModel], *, title: str) -> str:
    """A Telegraf-style sample config: every option commented out at its
    default, with its description (the trade-off) above it."""
    out = [f"# {title}", "#", "# Every option is shown commented out at its default. Uncomment to change.",
           "# Environment variables override this file: GAZEWIRE_<NAME>, nested GAZEWIRE_<TABLE>__<NAME>.",
           "# Command-line flags override both. An option shown without a value has no default.", ""]
    tables: list[tuple[str, type[BaseModel], FieldInfo]] = []
    for name, field in settings_cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            tables.append((name, annotation, field))
            continue
        out.extend(_sample_option(name, field))
    for name, model, field in tables:
        if field.description:
            out.extend(f"## {line}" for line in textwrap.wrap(field.description, width=88))
        out.append(f"# [{name}]")
        out.append("")
        for sub_name, sub_field in model.model_fields.items():
            out.extend(_sample_option(sub_name, sub_field))
    return "\n".join(out).rstrip() + "\n"


def _sample_option(name: str, field: FieldInfo) -> list[str]:
    lines = []
    if field.description:
        for line in textwrap.wrap(field.description, width=88):
            lines.append(f"## {line}")
    if field.default_factory is not None:
        lines.append(f"# {name} =  (default: computed at start, see above)")
        lines.append("")
        return lines
    default = field.get_default()
    if isinstance(default, SecretStr):
        default = ""
    if isinstance(default, Path):
        default = str(default)
    if isinstance(default, Enum):
        default = default.value
    if default is None:
        lines.append(f"# {name} =")
    else:
        lines.append(f"# {name} = {_toml_value(default)}")
    lines.append("")
    return lines

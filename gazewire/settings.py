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

import codecs
import difflib
import os
import re
import socket
import sys
import textwrap
from collections.abc import Collection
from contextvars import ContextVar
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gazewire.errors import SettingsError
from gazewire.wire.topics import validate_prefix, validate_session_level

ENV_PREFIX = "GAZEWIRE_"
MASK = "**********"

_config_document: ContextVar[dict[str, Any] | None] = ContextVar("gazewire_config_document", default=None)


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


def validate_data_dir(path: Path) -> Path:
    """A data directory: an existing directory, or a path that can be made one (its nearest
    existing parent is a directory). Whether it can be written is found out - and reported in
    status - when the program writes, as it may change while it runs (a full or read-only disk)."""
    path = Path(path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{str(path)!r} is a file, not a directory")
        return path
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{str(path)!r} cannot be made: {str(parent)!r} is a file, not a directory")
    return path


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


# Setting types shared by the agent and the processor.
SessionSetting = Annotated[str, AfterValidator(validate_session_level)]
TopicPrefixSetting = Annotated[str, AfterValidator(validate_prefix)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]
DataDirSetting = Annotated[Path, AfterValidator(validate_data_dir)]


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
        document = _config_document.get()
        if document is not None:  # the TOML file, read and decoded by load_settings (BOMs, UTF-16)
            sources.append(InitSettingsSource(settings_cls, init_kwargs=document))
        return tuple(sources)


def load_settings(
    settings_cls: type[GazewireSettings],
    *,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """Build ``settings_cls`` from all sources; raise SettingsError with one clear line.

    ``overrides`` come from command-line flags and may use dotted names for
    nested settings (``{"mqtt.port": 1884}``); an unknown name is refused with
    the closest known one. When ``overrides`` has a ``flags`` mapping (setting
    name -> the flag that gave it, see :class:`Overrides`), a problem with such a
    setting names the flag, not its environment variable.
    """
    if config_file is None and os.environ.get(ENV_PREFIX + "CONFIG"):
        config_file = os.environ[ENV_PREFIX + "CONFIG"]
    overrides = overrides or {}
    flags: dict[str, str] = getattr(overrides, "flags", {})
    _check_override_names(settings_cls, overrides, flags)
    document: dict[str, Any] | None = None
    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "does not exist"
            raise SettingsError(f"config file {str(path)!r} {what}")
        document = read_toml(path)
        _check_keys(settings_cls, document, prefix="", path=path)
    init = _nest(overrides)
    env_file = _env_file_options(settings_cls)
    token = _config_document.set(document)
    try:
        return settings_cls(**env_file, **init)
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error, settings_cls, flags)) from None
    finally:
        _config_document.reset(token)


class Overrides(dict):
    """Settings given on the command line, by dotted name, and ``flags``: the flag that gave
    each (``{"mqtt.port": "--broker"}``), so that a problem names what the user typed."""

    def __init__(self) -> None:
        super().__init__()
        self.flags: dict[str, str] = {}

    def give(self, name: str, value: Any, flag: str) -> None:
        self[name] = value
        self.flags[name] = flag


# A byte-order mark says how a text file is encoded: what Windows Notepad writes ("UTF-8 with
# BOM", "Unicode" = UTF-16 LE with BOM, "Unicode big endian"). Longest marks first.
BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def text_encoding(data: bytes) -> str:
    """The encoding of a settings file: the one its byte-order mark names, else UTF-8."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return encoding
    return "utf-8"


def read_text_file(path: Path, what: str) -> tuple[str, str]:
    """A settings file's text and encoding (UTF-8, or UTF-8/16/32 with a byte-order mark);
    SettingsError with one line when it cannot be read or decoded."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SettingsError(f"{what} {str(path)!r} cannot be read: {error.strerror or error}") from None
    encoding = text_encoding(data)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"{what} {str(path)!r} is not UTF-8 text (byte {error.start}): save it as UTF-8"
        ) from None


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document of a config file, whatever Notepad saved it as."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    text, _ = read_text_file(path, "config file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {str(path)!r} is not valid TOML: {error}") from None


def _env_file_options(settings_cls: type[BaseSettings]) -> dict[str, Any]:
    """How to read the ``.env`` file: its encoding (a BOM says), checked readable first -
    pydantic-settings would fail on it with a traceback."""
    name = settings_cls.model_config.get("env_file")
    if not name:
        return {}
    path = Path(str(name))
    if not path.exists():
        return {}
    if path.is_dir():
        raise SettingsError(f".env file {str(path.resolve())!r} is a directory, not a file")
    _, encoding = read_text_file(path.resolve(), ".env file")
    return {"_env_file_encoding": encoding}


def describe_settings_error(
    error: ValidationError, settings_cls: type[BaseModel], flags: dict[str, str] | None = None
) -> str:
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
    if isinstance(value, dict) or first.get("type") == "missing" or repr(value) in message:
        shown = ""  # nothing to show, or the message shows it already
    more = error.error_count() - 1
    suffix = f"; {more} more problem{'s' if more > 1 else ''}" if more > 0 else ""
    flag = next(  # the setting, or the table or list it is in, given by a flag
        (flags[".".join(location[:n])] for n in range(len(location), 0, -1) if ".".join(location[:n]) in (flags or {})),
        None,
    )
    if flag is not None:  # the flag's value wins over every other source: it is the one at fault
        return f"{flag}: {message}{shown}{suffix}"
    return f"invalid setting {name}: {message}{shown} [env {env_name}]{suffix}"


def _check_override_names(settings_cls: type[BaseModel], overrides: dict[str, Any], flags: dict[str, str]) -> None:
    known = _setting_names(settings_cls)
    for name in overrides:
        if name not in known:
            if name in flags:
                raise SettingsError(f"{flags[name]}: unknown setting {name!r}{_closest(name, known)}")
            raise SettingsError(f"invalid setting {name}: unknown setting{_closest(name, known)}")


def _setting_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every setting's dotted name (``mqtt.port``), tables included."""
    names = set()
    for key, field in model.model_fields.items():
        names.add(prefix + key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _setting_names(annotation, f"{prefix}{key}.")
    return names


def _closest(name: str, known: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to a mistyped one, else the list."""
    found = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if found:
        return f" (did you mean {found[0]!r}?)"
    table = name.rpartition(".")[0]
    siblings = [known_name for known_name in known if known_name.rpartition(".")[0] == table]
    return f" (known: {', '.join(sorted(siblings))})"


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


def _check_keys(model: type[BaseModel], document: dict[str, Any], *, prefix: str, path: Path) -> None:
    fields = model.model_fields
    for key, value in document.items():
        if key not in fields:
            closest = _closest(prefix + key, [prefix + name for name in fields])
            raise SettingsError(f"invalid setting {prefix}{key}: unknown setting in {str(path)!r}{closest}")
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

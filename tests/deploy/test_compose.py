"""docker-compose.yml and .env.example, checked offline (no Docker daemon is needed).

* The file is valid against the Compose Specification (check-jsonschema's
  vendored ``compose-spec`` schema, no network).
* Structure: pinned images (Mosquitto 2.0.x, InfluxDB 2.7, Grafana 11.x), a
  health check and a restart policy on every service, ``depends_on`` that
  waits for health, declared volumes, and every path mosquitto.conf names
  inside a mount.
* Variables: every ``${VAR}`` is documented in .env.example, which holds no
  secrets; empty secrets stop the interpolation (``${VAR:?...}``) exactly as
  ``docker compose up`` would.
* The processor is configured by GAZEWIRE_* variables that are real
  (nested) ProcessorSettings fields, and the values compose gives it load
  into valid settings.

The interpolation below follows the Compose Specification ("Interpolation"):
``$$`` escapes, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}``,
nested in the default. Its helpers are imported by the Grafana and
Dockerfile tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

SERVICES = ("mosquitto", "influxdb", "grafana", "processor", "api")
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET")


# --------------------------------------------------------------------------- helpers (also used by other tests)


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


class MissingVariable(ValueError):
    """``${VAR:?message}`` with VAR empty or unset: compose refuses to start."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


def _split(text: str) -> Iterator[tuple[str, str]]:
    """Pieces of a compose value: ("text", literal) or ("braced", body) or ("plain", name)."""
    i = 0
    while i < len(text):
        if text[i] != "$":
            j = text.find("$", i)
            j = len(text) if j < 0 else j
            yield "text", text[i:j]
            i = j
            continue
        if text.startswith("$$", i):
            yield "text", "$"
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text.startswith("${", j):
                    depth, j = depth + 1, j + 2
                    continue
                if text[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise ValueError(f"unclosed ${{ in {text!r}")
            yield "braced", text[i + 2 : j - 1]
            i = j
        else:
            match = _NAME.match(text, i + 1)
            if match is None:
                raise ValueError(f"a lone '$' in {text!r}: write '$$' for a literal dollar")
            yield "plain", match.group()
            i = match.end()


def _parse_braced(body: str) -> tuple[str, str | None, str]:
    match = _BRACED.match(body)
    if match is None:
        raise ValueError(f"invalid interpolation ${{{body}}}")
    return match["name"], match["op"], match["arg"] or ""


def variables(text: str) -> set[str]:
    """Every variable a compose value refers to, nested ones included."""
    found: set[str] = set()
    for kind, value in _split(text):
        if kind == "plain":
            found.add(value)
        elif kind == "braced":
            name, _, arg = _parse_braced(value)
            found.add(name)
            found |= variables(arg)
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """The value as docker compose computes it from ``env`` (.env)."""
    out = []
    for kind, value in _split(text):
        if kind == "text":
            out.append(value)
        elif kind == "plain":
            out.append(env.get(value, ""))
        else:
            name, op, arg = _parse_braced(value)
            current = env.get(name)
            present, non_empty = current is not None, bool(current)
            if op is None:
                out.append(current or "")
            elif op in (":-", "-"):
                use = non_empty if op == ":-" else present
                out.append(current if use else interpolate(arg, env))  # type: ignore[arg-type]
            elif op in (":?", "?"):
                if not (non_empty if op == ":?" else present):
                    raise MissingVariable(name, interpolate(arg, env))
                out.append(current)  # type: ignore[arg-type]
            else:  # ":+", "+"
                use = non_empty if op == ":+" else present
                out.append(interpolate(arg, env) if use else "")
    return "".join(out)


def strings(node: Any) -> Iterator[str]:
    """Every string value of a YAML document (compose interpolates values, not keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def interpolate_all(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_all(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_all(value, env) for value in node]
    return node


def parse_env_file(path: Path = ENV_EXAMPLE) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``(values, comments)`` of a .env file: comments are the ``#`` lines of the
    block directly above each variable (up to the previous blank line or variable)."""
    values: dict[str, str] = {}
    comments: dict[str, list[str]] = {}
    block: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            block = []
        elif line.startswith("#"):
            block.append(line.lstrip("# ").strip())
        else:
            match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
            assert match, f"{path.name}:{number}: not NAME=value: {raw!r}"
            name, value = match.groups()
            assert name not in values, f"{path.name}:{number}: {name} twice"
            values[name] = value
            comments[name] = [text for text in block if text and not set(text) <= set("-")]
            block = []
    return values, comments


def filled_env(values: Mapping[str, str]) -> dict[str, str]:
    """.env.example with every empty secret filled in, as an engineer would."""
    env = dict(values)
    for name, value in env.items():
        if not value and any(word in name for word in SECRET_WORDS) and not name.endswith(
            ("_PROCESSOR_TOKEN", "_GRAFANA_TOKEN")
        ):
            env[name] = f"test-{name.lower().replace('_', '-')}-0123456789"
    return env


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping (compose allows a list of NAME=value too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def setting_path(model: type[BaseModel], env_name: str, prefix: str = "GAZEWIRE_") -> list[str] | str:
    """``GAZEWIRE_INFLUX__TOKEN`` -> ``["influx", "token"]`` if that is a (nested) field
    of ``model``, else a string saying what is wrong."""
    if not env_name.startswith(prefix):
        return f"{env_name} does not start with {prefix}"
    parts = env_name[len(prefix) :].lower().split("__")
    current: Any = model
    for index, part in enumerate(parts):
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            where = ".".join(parts[:index]) or model.__name__
            known = ", ".join(sorted(fields or ()))
            return f"{env_name}: {where} has no setting {part!r} (known: {known})"
        annotation = fields[part].annotation
        if index < len(parts) - 1 and not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return f"{env_name}: {'.'.join(parts[: index + 1])} is not a section"
        current = annotation
    return parts


# --------------------------------------------------------------------------- the Compose Specification


def run_check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    assert CHECK_JSONSCHEMA.exists(), f"{CHECK_JSONSCHEMA} is missing: pip install -e '.[dev]'"
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def test_compose_file_matches_the_compose_specification() -> None:
    result = run_check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    healtcheck:\n", 1))
    result = run_check_jsonschema(broken)
    assert result.returncode != 0
    assert "healtcheck" in result.stdout + result.stderr


# --------------------------------------------------------------------------- structure


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def image_tag(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"image {image!r} has no tag"
    return name, tag


def test_the_five_services(compose: dict) -> None:
    assert set(compose["services"]) == set(SERVICES)


def test_images_are_pinned(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        if "image" in service:
            _, tag = image_tag(service["image"])
            assert tag != "latest" and not tag.startswith("latest"), f"{name}: {service['image']}"
    repo, tag = image_tag(services["mosquitto"]["image"])
    assert repo == "eclipse-mosquitto"
    # 2.0.x: Mosquitto 2.1 replaced its WebSocket code, and http_dir (the live page) is reported broken there.
    assert re.fullmatch(r"2\.0\.\d+", tag), f"mosquitto must be a 2.0.x patch release, not {tag!r}"
    repo, tag = image_tag(services["influxdb"]["image"])
    assert repo == "influxdb" and re.fullmatch(r"2\.7(\.\d+)?", tag), services["influxdb"]["image"]
    repo, tag = image_tag(services["grafana"]["image"])
    assert repo in ("grafana/grafana-oss", "grafana/grafana")
    assert re.fullmatch(r"11\.\d+\.\d+", tag), f"grafana must be a pinned 11.x.y, not {tag!r}"
    processor = services["processor"]
    assert processor["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert (REPO / processor["build"]["dockerfile"]).is_file()


def test_grafana_installs_the_pinned_mqtt_plugin_before_it_starts(compose: dict) -> None:
    env = environment(compose["services"]["grafana"])
    # Grafana 11.6 runs GF_INSTALL_PLUGINS in the image's run.sh before the server starts,
    # so the provisioned MQTT data source finds its plugin; "id version" pins it.
    assert re.fullmatch(r"grafana-mqtt-datasource \d+\.\d+\.\d+", env["GF_INSTALL_PLUGINS"])
    assert "GF_PLUGINS_PREINSTALL" not in env  # 11.x installs those in the background (too late)


def test_every_service_has_a_health_check_and_restarts(compose: dict) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {check['test']}"
        assert not check.get("disable"), name
        for key in ("interval", "timeout", "retries", "start_period"):
            assert key in check, f"{name}: healthcheck.{key}"
        assert service.get("restart") == "unless-stopped", f"{name}: restart {service.get('restart')!r}"


def test_health_checks_are_the_documented_ones(compose: dict) -> None:
    services = compose["services"]
    assert services["mosquitto"]["healthcheck"]["test"] == [
        "CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9001/"]
    assert services["influxdb"]["healthcheck"]["test"][:3] == ["CMD", "influx", "ping"]
    grafana = services["grafana"]["healthcheck"]["test"]
    assert grafana[0] == "CMD" and grafana[-1] == "http://127.0.0.1:3000/api/health"
    assert services["processor"]["healthcheck"]["test"] == ["CMD", "gazewire", "processor", "health"]
    assert services["api"]["healthcheck"]["test"] == ["CMD", "gazewire", "api", "health"]


def test_dependencies_wait_for_health(compose: dict) -> None:
    services = compose["services"]
    # the API reads the journal without the processor: it waits for the broker only (its commands)
    expected = {"grafana": {"influxdb", "mosquitto"}, "processor": {"influxdb", "mosquitto"}, "api": {"mosquitto"}}
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions"
        assert set(depends) == expected.get(name, set()), name
        for other, condition in depends.items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {other}: {condition}"
            assert "healthcheck" in services[other]


def _mounts(service: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    mounts = []
    for volume in service.get("volumes", []):
        assert isinstance(volume, str), f"use the short volume syntax: {volume!r}"
        parts = volume.split(":")
        source, target = parts[0], parts[1]
        mounts.append((source, target, len(parts) > 2 and "ro" in parts[2].split(",")))
    return mounts


def test_volumes_are_declared_and_binds_exist(compose: dict) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in compose["services"].items():
        for source, target, _ in _mounts(service):
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith("./"):
                path = REPO / source
                if source == "./deploy/mosquitto/certs":
                    # made by the engineer for TLS (docs/deploy.md), never committed
                    assert "certs/" in (REPO / "deploy/mosquitto/.gitignore").read_text().split()
                    continue
                assert path.exists(), f"{name}: bind mount source {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source!r} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"


def test_mosquitto_mounts_cover_every_path_of_mosquitto_conf(compose: dict) -> None:
    mounts = _mounts(compose["services"]["mosquitto"])
    targets = {target: (source, read_only) for source, target, read_only in mounts}
    assert targets["/mosquitto/config"] == ("./deploy/mosquitto", True)
    assert targets["/mosquitto/www"] == ("./deploy/mosquitto/www", True)
    assert targets["/mosquitto/certs"][1] is True
    assert not targets["/mosquitto/data"][0].startswith(".")
    assert not targets["/mosquitto/log"][0].startswith(".")
    conf = (REPO / "deploy/mosquitto/mosquitto.conf").read_text()
    paths = set(re.findall(r"^#?\s*\w+\s+(/mosquitto/\S+)", conf, re.M))
    assert {"/mosquitto/config/passwords", "/mosquitto/www", "/mosquitto/certs/ca.crt"} <= paths
    for path in paths:
        assert any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets), path


def test_broker_ports(compose: dict) -> None:
    env = filled_env(parse_env_file()[0])
    ports = [interpolate(port, env) for port in compose["services"]["mosquitto"]["ports"]]
    assert ports == ["1883:1883", "9001:9001", "8883:8883"]
    listeners = re.findall(r"^#?listener (\d+)", (REPO / "deploy/mosquitto/mosquitto.conf").read_text(), re.M)
    assert sorted(listeners) == ["1883", "8883", "9001"]


def test_only_the_server_itself_reaches_influxdb(compose: dict) -> None:
    ports = compose["services"]["influxdb"]["ports"]
    assert all(port.startswith("127.0.0.1:") for port in ports)
    assert "ports" not in compose["services"]["processor"]


def test_processor_keeps_its_client_id_across_recreation(compose: dict) -> None:
    processor = compose["services"]["processor"]
    assert processor.get("hostname"), "the default MQTT client id contains the host name"
    assert "GAZEWIRE_PROCESSOR_ID" in environment(processor)


# --------------------------------------------------------------------------- variables and .env.example


def test_interpolation_helper_follows_compose() -> None:
    env = {"SET": "a", "EMPTY": ""}
    assert interpolate("${SET}-${EMPTY}-${UNSET}", env) == "a--"
    assert interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "d  d"
    assert interpolate("${SET:+x}${EMPTY:+y}${EMPTY+z}", env) == "xz"
    assert interpolate("$$SET $SET", env) == "$SET a"
    assert interpolate("${EMPTY:-${SET}}", env) == "a"
    with pytest.raises(MissingVariable, match="EMPTY: need it"):
        interpolate("${EMPTY:?need it}", env)
    assert interpolate("${EMPTY?fine}", env) == ""
    with pytest.raises(MissingVariable):
        interpolate("${UNSET:-${EMPTY:?inner}}", env)
    assert variables("${A:-${B:?x}} $C $$D") == {"A", "B", "C"}
    with pytest.raises(ValueError):
        variables("a $ b")


def test_every_variable_is_documented_in_env_example(compose: dict) -> None:
    values, comments = parse_env_file()
    used = set().union(*(variables(text) for text in strings(compose)))
    assert used, "docker-compose.yml uses no variables?"
    undocumented = sorted(used - set(values))
    assert not undocumented, f"add to .env.example (with a comment): {undocumented}"
    uncommented = sorted(name for name in values if not comments[name])
    assert not uncommented, f"variables without a comment in .env.example: {uncommented}"
    unused = sorted(set(values) - used)
    assert not unused, f"variables in .env.example that docker-compose.yml does not use: {unused}"


def test_env_example_holds_no_secrets() -> None:
    values, _ = parse_env_file()
    secrets = [name for name in values if any(word in name for word in SECRET_WORDS)]
    assert len(secrets) >= 6
    for name in secrets:
        assert values[name] == "", f".env.example must leave {name} empty, not {values[name]!r}"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_empty_secrets_stop_compose_and_filled_ones_start_it(compose: dict) -> None:
    values, _ = parse_env_file()
    missing = set()
    for service in compose["services"].values():
        for text in strings(service):
            env = filled_env(values)
            try:
                interpolate(text, values)
            except MissingVariable as error:
                missing.add(error.name)
            interpolate(text, env)  # filled in: no error
    assert missing == {
        "INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_ADMIN_TOKEN", "GRAFANA_ADMIN_PASSWORD",
        "GRAFANA_MQTT_PASSWORD", "PROCESSOR_MQTT_PASSWORD", "HEALTHCHECK_MQTT_PASSWORD",
        "API_VIEWER_TOKENS", "API_MQTT_PASSWORD",
    }


def test_org_bucket_and_token_agree_between_services(compose: dict) -> None:
    env = filled_env(parse_env_file()[0])
    resolved = interpolate_all(compose, env)["services"]
    influx, grafana, processor = (environment(resolved[name]) for name in ("influxdb", "grafana", "processor"))
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influx["DOCKER_INFLUXDB_INIT_ORG"] == grafana["INFLUXDB_ORG"] == processor["GAZEWIRE_INFLUX__ORG"]
    assert influx["DOCKER_INFLUXDB_INIT_BUCKET"] == grafana["INFLUXDB_BUCKET"] == processor["GAZEWIRE_INFLUX__BUCKET"]
    token = influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert token and grafana["INFLUXDB_TOKEN"] == processor["GAZEWIRE_INFLUX__TOKEN"] == token
    for key in ("USERNAME", "PASSWORD", "RETENTION"):
        assert influx[f"DOCKER_INFLUXDB_INIT_{key}"], key
    # the optional restricted tokens take over when set
    env.update(INFLUXDB_PROCESSOR_TOKEN="write-only", INFLUXDB_GRAFANA_TOKEN="read-only")
    resolved = interpolate_all(compose, env)["services"]
    assert environment(resolved["processor"])["GAZEWIRE_INFLUX__TOKEN"] == "write-only"
    assert environment(resolved["grafana"])["INFLUXDB_TOKEN"] == "read-only"


# --------------------------------------------------------------------------- the processor's settings


def test_processor_variables_are_real_settings(compose: dict) -> None:
    from gazewire.processor.config import ProcessorSettings

    from gazewire.cli import health

    env = environment(compose["services"]["processor"])
    names = [name for name in env if name.startswith("GAZEWIRE_")]
    assert len(names) == len(env), f"not GAZEWIRE_*: {set(env) - set(names)}"
    health_check = {health.USERNAME_VARIABLE, health.PASSWORD_VARIABLE}  # read by `processor health` alone
    assert health_check <= set(names)
    problems = [found for name in set(names) - health_check
                if isinstance(found := setting_path(ProcessorSettings, name), str)]
    assert not problems, problems
    assert {"GAZEWIRE_MQTT__HOST", "GAZEWIRE_MQTT__USERNAME", "GAZEWIRE_MQTT__PASSWORD", "GAZEWIRE_INFLUX__URL",
            "GAZEWIRE_INFLUX__ORG", "GAZEWIRE_INFLUX__BUCKET", "GAZEWIRE_INFLUX__TOKEN"} <= set(names)


def test_setting_path_catches_names_that_are_no_setting() -> None:
    from gazewire.processor.config import ProcessorSettings

    assert setting_path(ProcessorSettings, "GAZEWIRE_INFLUX__TOKEN") == ["influx", "token"]
    assert setting_path(ProcessorSettings, "GAZEWIRE_MQTT__HOST") == ["mqtt", "host"]
    assert "no setting 'tokn'" in setting_path(ProcessorSettings, "GAZEWIRE_INFLUX__TOKN")
    assert "no setting 'influxdb'" in setting_path(ProcessorSettings, "GAZEWIRE_INFLUXDB__URL")
    assert "not a section" in setting_path(ProcessorSettings, "GAZEWIRE_ALGORITHM__NAME")
    assert "does not start" in setting_path(ProcessorSettings, "INFLUX_TOKEN")


def test_processor_environment_loads_into_valid_settings(
    compose: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gazewire.settings import load_settings
    from gazewire.processor.config import ProcessorSettings

    env = filled_env(parse_env_file()[0])
    resolved = environment(interpolate_all(compose, env)["services"]["processor"])
    for name in list(os.environ):
        if name.startswith("GAZEWIRE_"):
            monkeypatch.delenv(name)
    for name, value in resolved.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = load_settings(ProcessorSettings)
    assert settings.mqtt.host == "mosquitto" and settings.mqtt.port == 1883
    assert settings.mqtt.username == env["PROCESSOR_MQTT_USER"]
    assert settings.mqtt.password.get_secret_value() == env["PROCESSOR_MQTT_PASSWORD"]
    assert settings.influx.url == "http://influxdb:8086"
    assert settings.influx.token.get_secret_value() == env["INFLUXDB_ADMIN_TOKEN"]
    assert (settings.influx.org, settings.influx.bucket) == (env["INFLUXDB_ORG"], env["INFLUXDB_BUCKET"])
    assert settings.processor_id == env["PROCESSOR_ID"] and settings.topic_prefix == env["TOPIC_PREFIX"]
    assert str(settings.data_dir) == "/var/lib/gazewire"
    # the data directory is the processor's volume
    targets = [target for _, target, _ in _mounts(compose["services"]["processor"])]
    assert str(settings.data_dir) in targets


def test_the_compose_service_names_are_the_hosts_the_others_use(compose: dict) -> None:
    processor = environment(compose["services"]["processor"])
    assert processor["GAZEWIRE_MQTT__HOST"] in compose["services"]
    assert processor["GAZEWIRE_INFLUX__URL"] == "http://influxdb:8086"
    assert "influxdb" in compose["services"]
    # (Grafana's data source URLs are checked in test_grafana_provisioning.py)


# --------------------------------------------------------------------------- the HTTP API's settings


def test_api_variables_are_real_settings(compose: dict) -> None:
    from gazewire.api.settings import ApiSettings

    env = environment(compose["services"]["api"])
    names = [name for name in env if name.startswith("GAZEWIRE_")]
    assert len(names) == len(env), f"not GAZEWIRE_*: {set(env) - set(names)}"
    problems = [found for name in names if isinstance(found := setting_path(ApiSettings, name), str)]
    assert not problems, problems


def test_api_runs_the_image_of_the_processor_with_its_own_entrypoint(compose: dict) -> None:
    api, processor = compose["services"]["api"], compose["services"]["processor"]
    assert api["image"] == processor["image"] and api["build"] == processor["build"]
    assert api["entrypoint"] == ["gazewire", "api", "run"]


def test_api_environment_loads_and_reads_the_processors_journal(
    compose: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gazewire.api.settings import ApiSettings
    from gazewire.api.tokens import Role, load_tokens
    from gazewire.processor.config import ProcessorSettings
    from gazewire.settings import load_settings

    env = filled_env(parse_env_file()[0])
    services = interpolate_all(compose, env)["services"]
    for name in list(os.environ):
        if name.startswith("GAZEWIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in environment(services["processor"]).items():
        monkeypatch.setenv(name, value)
    processor = load_settings(ProcessorSettings)
    for name in environment(services["processor"]):
        monkeypatch.delenv(name)
    for name, value in environment(services["api"]).items():
        monkeypatch.setenv(name, value)
    api = load_settings(ApiSettings)
    assert api.journal_path == processor.journal_path  # the same file, on the same volume
    volume = {target: source for source, target, _ in _mounts(services["api"])}
    assert volume[str(api.data_dir)] == {t: s for s, t, _ in _mounts(services["processor"])}[str(processor.data_dir)]
    # not :ro: SQLite's WAL readers need the -shm file (see the comment in docker-compose.yml)
    assert not [ro for _, target, ro in _mounts(services["api"]) if target == str(api.data_dir) and ro]
    assert (api.api.listen, api.api.port) == ("0.0.0.0", 8000)
    assert services["api"]["ports"] == [f"{env['API_PORT']}:8000"]
    assert (api.mqtt.host, api.mqtt.username) == ("mosquitto", env["API_MQTT_USER"])
    assert api.mqtt.password.get_secret_value() == env["API_MQTT_PASSWORD"]
    tokens = load_tokens(api)
    assert tokens.count(Role.VIEWER) == 1 and tokens.count(Role.OPERATOR) == 1
    assert api.topic_prefix == processor.topic_prefix


# --------------------------------------------------------------------------- the documentation says what the file does


def test_deploy_docs_name_the_pinned_versions_ports_and_secrets(compose: dict) -> None:
    docs = (REPO / "docs" / "deploy.md").read_text()
    grafana_readme = (REPO / "deploy" / "grafana" / "README.md").read_text()
    for service in compose["services"].values():
        if "build" not in service:
            assert f"`{service['image']}`" in docs, service["image"]
    plugin, version = environment(compose["services"]["grafana"])["GF_INSTALL_PLUGINS"].split()
    assert f"`{plugin}` {version}" in docs and f"`{plugin}` {version}" in grafana_readme
    assert compose["services"]["grafana"]["image"] in grafana_readme
    base = re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.M).group(1)
    assert f"`{base}`" in docs
    ports_table = docs.split("## Ports", 1)[1].split("\n## ", 1)[0]
    for service in compose["services"].values():
        for port in service.get("ports", []):
            target = port.rsplit(":", 1)[1]
            assert re.search(rf"^\| {target} \|", ports_table, re.M), f"port {target} missing in docs/deploy.md"
    values, _ = parse_env_file()
    for name in values:
        if any(word in name for word in SECRET_WORDS):
            assert name in docs, f"docs/deploy.md does not mention {name}"

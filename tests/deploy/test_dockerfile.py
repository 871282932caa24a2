"""The processor image: Dockerfile, .dockerignore and the health check, without a Docker daemon.

* The Dockerfile is read instruction by instruction: a pinned slim Python
  3.11+ base, the package installed with pip, a non-root user, the
  ``gazewire processor run`` entry point and a HEALTHCHECK equal to
  docker-compose.yml's.
* The build context is computed from .dockerignore with Docker's matching
  rules (last matching pattern wins, a pattern matching a directory applies to
  everything in it): it holds what the Dockerfile copies and nothing else
  (no virtual environments, .git, data, secrets), and a copy of exactly that
  context imports and runs the processor's command line.
* The health check, ``gazewire processor health`` (gazewire/cli/health.py), is
  run against the REAL broker (deploy/mosquitto as shipped) and a REAL
  ``gazewire processor run``: healthy while it runs, unhealthy with a clear
  line before it starts, after it stops, with a wrong password, without its
  own broker user, without a broker, with a stale status and with a failing
  sink; checking never disconnects the processor.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gazewire.wire.timeutil import iso_from_utc_us, utc_now_us
from tests.deploy.test_compose import load_compose
from tests.support.packaging import build_wheel, clean_python

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


# --------------------------------------------------------------------------- reading the Dockerfile


@dataclass
class Instruction:
    keyword: str
    args: str
    heredoc: str | None
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and here-documents attached."""
    lines = text.splitlines()
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        start = i + 1
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        parts = [line]
        while parts[-1].rstrip().endswith("\\"):
            parts[-1] = parts[-1].rstrip()[:-1]
            i += 1
            while lines[i].lstrip().startswith("#"):  # comments inside a continuation are dropped
                i += 1
            parts.append(lines[i])
        joined = " ".join(part.strip() for part in parts)
        keyword, _, args = joined.partition(" ")
        heredoc = None
        marker = re.search(r"<<-?'?\"?(\w+)'?\"?", args)
        if marker:
            end = lines.index(marker.group(1), i + 1)
            heredoc = "\n".join(lines[i + 1 : end]) + "\n"
            i = end
        out.append(Instruction(keyword.upper(), args.strip(), heredoc, start))
        i += 1
    return out


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"line {instruction.line}: {instruction.keyword} before FROM"
        result[-1].append(instruction)
    return result


def test_buildkit_syntax_is_declared() -> None:
    first = DOCKERFILE.read_text().splitlines()[0]
    assert re.fullmatch(r"# syntax=docker/dockerfile:1(\.\d+)?", first), first


def test_base_image_is_a_pinned_slim_python(instructions: list[Instruction]) -> None:
    froms = [i.args.split()[0] for i in instructions if i.keyword == "FROM"]
    assert froms
    for image in froms:
        match = re.fullmatch(r"python:3\.(\d+)\.\d+-slim-[a-z]+", image)
        assert match, f"base {image!r}: pin python:3.X.Y-slim-<debian>"
        assert int(match.group(1)) >= 11
    assert len(set(froms)) == 1, "build and run stages use the same base"


def test_package_is_installed_with_pip(instructions: list[Instruction]) -> None:
    build, run = stages(instructions)[0], stages(instructions)[-1]
    build_runs = [i.args for i in build if i.keyword == "RUN"]
    # the package from the context, with the HTTP API's extra (service "api" runs the same image)
    assert any(re.search(r"\bpip wheel\b.* \"?\.(\[api\])?\"?$", args) for args in build_runs), build_runs
    run_runs = [i.args for i in run if i.keyword == "RUN"]
    assert any(re.search(r"\bpip install\b.*--no-index.*\bgazewire\[api\]", args) for args in run_runs), run_runs


def test_runs_as_an_unprivileged_user(instructions: list[Instruction]) -> None:
    run = stages(instructions)[-1]
    users = [i for i in run if i.keyword == "USER"]
    assert users, "no USER: the processor would run as root"
    user = users[-1].args
    assert user not in ("root", "0") and not user.startswith("0:"), user
    entry = next(i for i in run if i.keyword == "ENTRYPOINT")
    assert users[-1].line < entry.line
    creates = " ".join(i.args for i in run if i.keyword == "RUN")
    assert re.search(rf"useradd --system .*\b{re.escape(user)}\b", creates), "the user is created as a system user"


def test_entrypoint_is_the_processor(instructions: list[Instruction]) -> None:
    entries = [i for i in instructions if i.keyword == "ENTRYPOINT"]
    assert len(entries) == 1
    assert json.loads(entries[0].args) == ["gazewire", "processor", "run"]


def _duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(number) * units[unit]
    return total


def test_healthcheck_is_the_one_compose_uses(instructions: list[Instruction]) -> None:
    checks = [i for i in instructions if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    options = dict(re.findall(r"--([\w-]+)=(\S+)", checks[0].args))
    command = json.loads(checks[0].args.split(" CMD ", 1)[1])
    compose_check = load_compose()["services"]["processor"]["healthcheck"]
    assert ["CMD", *command] == compose_check["test"]
    assert command == ["gazewire", "processor", "health"]
    for option, key in (("interval", "interval"), ("timeout", "timeout"), ("start-period", "start_period")):
        assert _duration_s(options[option]) == _duration_s(compose_check[key]), option
    assert int(options["retries"]) == compose_check["retries"]
    # the check must answer within the timeout: its connect wait plus a margin
    from gazewire.cli.health import TIMEOUT_S

    assert _duration_s(options["timeout"]) > TIMEOUT_S + 3


# --------------------------------------------------------------------------- the build context (.dockerignore)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go filepath.Match plus '**', as Docker's .dockerignore uses them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str], str]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negate, _glob_regex(pattern), line))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent directories decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, regex, _ in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            result = not negate
    return result


def context_files(root: Path, rules) -> list[str]:
    found = []
    for directory, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # Docker walks everything; pruning the (huge, always excluded) environments only saves time here.
        dirs[:] = [d for d in dirs if not (rel_dir == "" and (d == ".git" or d.startswith(".venv")))]
        for name in files:
            rel = rel_dir + name
            if not excluded(rel, rules):
                found.append(rel)
    return sorted(found)


@pytest.fixture(scope="module")
def rules():
    return dockerignore_rules(DOCKERIGNORE.read_text())


def test_matcher_follows_docker_rules() -> None:
    rules = dockerignore_rules("**\n!src/\n**/__pycache__\n*.md\n!README.md\n")
    assert excluded("data/x.csv", rules)
    assert not excluded("src/a/b.py", rules)
    assert excluded("src/a/__pycache__/b.pyc", rules)
    assert excluded("NOTES.md", rules) and not excluded("README.md", rules)
    assert excluded(".venv-py310/bin/python", dockerignore_rules(".venv*\n"))
    assert not excluded("src.venv/x", dockerignore_rules(".venv*\n"))


def test_context_holds_only_what_the_image_needs(rules) -> None:
    files = context_files(REPO, rules)
    assert "pyproject.toml" in files and "setup.py" in files and "README.md" in files
    allowed = re.compile(r"(pyproject\.toml|setup\.py|README\.md|(gazewire|agent|processor)/.+)\Z")
    stray = [f for f in files if not allowed.match(f)]
    assert not stray, f"in the build context but not needed: {stray[:10]}"
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    for package in ("gazewire", "agent", "processor"):
        assert f"{package}/__init__.py" in files


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".venv-py310/lib/x.py", ".git/HEAD", "data/P07.csv", "test-artifacts/live-page.png",
    "tests/conftest.py", ".env", "deploy/mosquitto/passwords", "deploy/mosquitto/certs/server.key",
    "gazewire.egg-info/PKG-INFO", "processor/__pycache__/x.cpython-312.pyc", "gazewire/secret.key",
])
def test_context_excludes(path: str, rules) -> None:
    assert excluded(path, rules), path


def test_every_copy_source_is_in_the_context(instructions: list[Instruction], rules) -> None:
    copies = [i for i in instructions if i.keyword == "COPY" and not i.heredoc and "--from=" not in i.args]
    assert copies
    for copy in copies:
        sources = [arg for arg in copy.args.split() if not arg.startswith("--")][:-1]
        for source in sources:
            path = REPO / source
            assert path.exists(), f"line {copy.line}: COPY {source}: not in the repository"
            assert not excluded(source, rules), f"line {copy.line}: COPY {source}: excluded by .dockerignore"


def test_the_context_alone_builds_a_wheel_that_runs_the_processor(rules, tmp_path: Path) -> None:
    """What `pip wheel .` in the build stage sees is enough: the wheel built from
    the context alone runs `gazewire processor sample-config` where the checkout
    cannot be imported."""
    context = tmp_path / "context"
    for rel in context_files(REPO, rules):
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    python = clean_python(build_wheel(context, tmp_path / "dist"), tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    result = subprocess.run(
        [str(python), "-m", "gazewire", "processor", "sample-config"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[influx]" in result.stdout
    api = subprocess.run([str(python), "-m", "gazewire", "api", "sample-config"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert api.returncode == 0 and "# [api]" in api.stdout, api.stderr


# --------------------------------------------------------------------------- the health check, for real

PROCESSOR_ID = "hc-test"
STATUS_TOPIC = f"lab/_sys/processor/{PROCESSOR_ID}/status"


@pytest.fixture
def healthcheck_command() -> list[str]:
    """The image's health check command, run from this checkout."""
    return [sys.executable, "-m", "gazewire.cli", "processor", "health"]


def processor_env(broker, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update({
        "GAZEWIRE_PROCESSOR_ID": PROCESSOR_ID,
        "GAZEWIRE_MQTT__HOST": broker.host,
        "GAZEWIRE_MQTT__PORT": str(broker.port),
        "GAZEWIRE_MQTT__USERNAME": "processor",
        "GAZEWIRE_MQTT__PASSWORD": broker.password("processor"),
        "GAZEWIRE_HEALTHCHECK_USERNAME": "healthcheck",  # its own user: one connection per user
        "GAZEWIRE_HEALTHCHECK_PASSWORD": broker.password("healthcheck"),
        "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.2",
        "GAZEWIRE_MQTT__RECONNECT_MAX_S": "1",
        "GAZEWIRE_DATA_DIR": str(data_dir),
        "GAZEWIRE_STATUS_INTERVAL_S": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def run_check(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    env = {**env, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=30)
    output = (result.stdout + result.stderr).strip()
    assert len(output.splitlines()) == 1, output
    return result.returncode, output, time.monotonic() - started


def wait_healthy(script: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        code, output, _ = run_check(script, env, cwd)
        if code == 0 or time.monotonic() > deadline:
            assert code == 0, output
            return output
        time.sleep(0.2)


@pytest.mark.broker
def test_healthcheck_follows_the_real_processor(make_lab_broker, healthcheck_command: list[str], tmp_path: Path) -> None:
    broker = make_lab_broker()
    env = processor_env(broker, tmp_path / "data")

    code, output, elapsed = run_check(healthcheck_command, env, tmp_path)
    assert code == 1
    assert output == f"unhealthy: no retained status on {STATUS_TOPIC} (processor not running, or another id or prefix)"
    assert elapsed < 8

    log = (tmp_path / "processor.log").open("wb")
    processor = subprocess.Popen([sys.executable, "-m", "gazewire.cli", "processor", "run"], env=env, cwd=tmp_path,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        output = wait_healthy(healthcheck_command, env, tmp_path)
        assert re.fullmatch(rf"healthy: processor '{PROCESSOR_ID}' online, status \d+ s old, "
                            r"sink lineprotocol ok, 0 points written", output), output
        for _ in range(3):  # checking does not disturb the processor (its own user, clean session)
            assert run_check(healthcheck_command, env, tmp_path)[0] == 0
        assert processor.poll() is None

        wrong = dict(env, GAZEWIRE_HEALTHCHECK_PASSWORD="not-the-password")
        code, output, _ = run_check(healthcheck_command, wrong, tmp_path)
        assert code == 1 and output.startswith(f"unhealthy: broker {broker.host}:{broker.port} refused user 'healthcheck'")

        # Without its own user it refuses to log in as the processor's (which would take over its connection).
        unset = {k: v for k, v in env.items() if not k.startswith("GAZEWIRE_HEALTHCHECK_")}
        code, output, _ = run_check(healthcheck_command, unset, tmp_path)
        assert code == 1 and output == (
            "unhealthy: set GAZEWIRE_HEALTHCHECK_USERNAME and GAZEWIRE_HEALTHCHECK_PASSWORD (a viewer user): the "
            "health check does not log in as the processor's user 'processor', which would take over the "
            "processor's connection")
        assert run_check(healthcheck_command, env, tmp_path)[0] == 0
    finally:
        processor.terminate()
        assert processor.wait(30) == 0, (tmp_path / "processor.log").read_text()
        log.close()
    processor_log = (tmp_path / "processor.log").read_text()
    assert processor_log.count("connected to ") == 1 and "disconnected from broker" not in processor_log, processor_log
    assert "already connected, closing old connection" not in broker.log()

    code, output, _ = run_check(healthcheck_command, env, tmp_path)
    assert code == 1 and output.startswith(f"unhealthy: processor '{PROCESSOR_ID}' is offline"), output


@pytest.mark.broker
def test_healthcheck_without_a_broker(healthcheck_command: list[str], tmp_path: Path) -> None:
    from tests.support.ports import free_port

    class Nowhere:
        host, port = "127.0.0.1", free_port()

        def password(self, user: str) -> str:
            return "whatever-password"

    env = processor_env(Nowhere(), tmp_path / "data")
    code, output, elapsed = run_check(healthcheck_command, env, tmp_path)
    assert code == 1
    assert output == f"unhealthy: no connection to the broker 127.0.0.1:{Nowhere.port} within 8 s"
    assert elapsed < 12


def _status(**changes) -> bytes:
    status = {
        "v": 1, "processor": PROCESSOR_ID, "state": "online", "utc": iso_from_utc_us(utc_now_us()),
        "version": "0", "host": "h", "algorithm": "ivt", "counters": {}, "sessions": {},
        "sink": {"kind": "influxdb", "target": "http://influxdb:8086", "state": "ok", "points_written": 5,
                 "last_error": None},
        "warnings": [],
    }
    status.update(changes)
    return json.dumps(status).encode()


# Statuses are built when the test runs, not when it is collected: their age matters.
@pytest.mark.broker
@pytest.mark.parametrize(("make_status", "expected"), [
    (lambda: _status(), rf"healthy: processor '{PROCESSOR_ID}' online, status \d+ s old, sink influxdb ok, 5 points written"),
    (lambda: _status(utc=iso_from_utc_us(utc_now_us() - 600_000_000)),
     r"unhealthy: processor status is 6\d\d s old \(more than 30 s\): processor stuck\?"),
    (lambda: _status(sink={"kind": "influxdb", "state": "unreachable", "points_written": 0,
                           "last_error": "connection refused"}),
     r"unhealthy: sink influxdb unreachable, 0 points written: connection refused"),
    (lambda: b"not json", rf"unhealthy: unreadable status on {STATUS_TOPIC}: .*"),
])
def test_healthcheck_judges_the_status(make_lab_broker, mqtt_client, healthcheck_command: list[str], tmp_path: Path,
                                       make_status, expected: str) -> None:
    broker = make_lab_broker()
    publisher = mqtt_client(broker, "processor")  # the processor role may write its status topic
    assert publisher.publish(STATUS_TOPIC, make_status(), retain=True) in (0, 16)  # 16: no subscribers (MQTT 5)
    code, output, _ = run_check(healthcheck_command, processor_env(broker, tmp_path / "data"), tmp_path)
    assert re.fullmatch(expected, output), output
    assert code == (0 if output.startswith("healthy") else 1)

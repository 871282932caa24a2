"""``gazewire api run|config|sample-config|health`` as a user types them: settings
with tokens masked, one line and exit 2 for missing or bad tokens, exit 1 for a
port in use, a clean stop on SIGTERM, the committed sample config is the
generated one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from gazewire.cli.api import sample_config_text
from tests.api.conftest import OPERATOR_TOKEN, VIEWER_TOKEN
from tests.support.long_recording import write_long_recording
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def gazewire(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    return subprocess.run([sys.executable, "-m", "gazewire.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**clean, **env}, stdin=subprocess.DEVNULL)


def test_the_committed_sample_config_is_the_generated_one() -> None:
    committed = (REPO / "examples" / "api.sample.toml").read_text()
    assert committed == sample_config_text(), "run: gazewire api sample-config > examples/api.sample.toml"
    assert "# [api]" in committed and "# tokens_file =" in committed and "# port = 8000" in committed


def test_the_sample_config_loads_when_uncommented(tmp_path: Path) -> None:
    lines = []
    for line in sample_config_text().splitlines():
        if line.startswith("# ") and not line.startswith("## ") and " = " in line and "(default:" not in line or line.startswith("# [") and line.endswith("]"):
            lines.append(line[2:])
    (tmp_path / "api.toml").write_text("\n".join(lines) + "\n")
    done = gazewire("api", "config", "--config", str(tmp_path / "api.toml"), cwd=tmp_path,
                    GAZEWIRE_API__VIEWER_TOKENS=VIEWER_TOKEN)
    assert done.returncode == 0, done.stderr
    assert "listen = \"127.0.0.1\"" in done.stdout


def test_config_masks_the_tokens(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# role name token\nviewer grafana-notebook {VIEWER_TOKEN}\n\noperator stimulus-pc "
                      f"{OPERATOR_TOKEN}  # the experiment PC\n")
    done = gazewire("api", "config", "--tokens-file", str(tokens), "--port", "8123", cwd=tmp_path,
                    GAZEWIRE_API__OPERATOR_TOKENS=f"{OPERATOR_TOKEN}x,{OPERATOR_TOKEN}y",
                    GAZEWIRE_MQTT__USERNAME="api", GAZEWIRE_MQTT__PASSWORD="broker-secret-123")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# effective api settings (secrets masked)\n")
    assert 'operator_tokens = "**********"' in done.stdout and "port = 8123" in done.stdout
    assert f'tokens_file = "{tokens}"' in done.stdout
    for secret in (VIEWER_TOKEN, OPERATOR_TOKEN, "broker-secret-123"):
        assert secret not in done.stdout + done.stderr


def test_without_tokens_nothing_starts(tmp_path: Path) -> None:
    for action in ("run", "config"):
        done = gazewire("api", action, "--port", str(free_port()), cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr == ("gazewire: invalid setting api: no API tokens: set api.tokens_file, or "
                               "GAZEWIRE_API__VIEWER_TOKENS / GAZEWIRE_API__OPERATOR_TOKENS (make a token with: "
                               "openssl rand -hex 32)\n")


def test_bad_tokens_are_named_not_shown(tmp_path: Path) -> None:
    short = gazewire("api", "config", cwd=tmp_path, GAZEWIRE_API__VIEWER_TOKENS="too-short-a-one")
    assert short.returncode == 2
    assert short.stderr == ("gazewire: API token 'viewer-1' (viewer): shorter than 16 characters (make one with: "
                            "openssl rand -hex 32)\n")
    tokens = tmp_path / "tokens"
    for text, problem in (
        (f"viewer {VIEWER_TOKEN}\n", "line 1: expected '<role> <name> <token>' (3 words), found 2"),
        (f"admin root {VIEWER_TOKEN}\n", "line 1: role 'admin' is not viewer or operator"),
        (f"viewer a {VIEWER_TOKEN}\noperator b {VIEWER_TOKEN}\n", None),
    ):
        tokens.write_text(text)
        done = gazewire("api", "config", "--tokens-file", str(tokens), cwd=tmp_path)
        assert done.returncode == 2
        assert VIEWER_TOKEN not in done.stderr
        if problem:
            assert done.stderr == f"gazewire: API tokens file {str(tokens)!r}, {problem}\n"
        else:
            assert done.stderr == "gazewire: API token 'b' is the same token as 'a'\n"
    missing = gazewire("api", "config", "--tokens-file", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "tokens_file" in missing.stderr and "does not exist" in missing.stderr


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = gazewire("api", "run", "--port", str(port), cwd=tmp_path, GAZEWIRE_API__VIEWER_TOKENS=VIEWER_TOKEN)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"gazewire: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_health_says_whether_the_api_answers(tmp_path: Path, start_api) -> None:
    port = free_port()
    down = gazewire("api", "health", "--port", str(port), cwd=tmp_path)
    assert down.returncode == 1
    assert down.stdout.startswith(f"unhealthy: no answer from http://127.0.0.1:{port}/api/health: ")
    made = write_long_recording(tmp_path / "journal.sqlite", samples=600, template_s=1)
    api = start_api(made.journal)
    up = gazewire("api", "health", "--port", str(api.port), cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout == f"healthy: API answers on {api.url}/api/health; journal ok; 0 downloads running\n"
    assert api.stop() == 0  # SIGTERM: a clean stop
    assert "gazewire API stopped" in api.log()

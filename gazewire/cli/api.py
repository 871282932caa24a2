"""``gazewire api ...``: the lab server's HTTP API: run it, show its settings
(tokens masked), print a sample config, check that it answers."""

from __future__ import annotations

import argparse
from typing import Any

from gazewire.cli.common import Flag, Program, add_program_commands
from gazewire.errors import GazewireError

API_FLAGS = (
    Flag(("--listen",), "api.listen", "address to listen on (0.0.0.0: the lab network)", metavar="ADDRESS"),
    Flag(("--port",), "api.port", "TCP port", metavar="PORT"),
    Flag(("--tokens-file",), "api.tokens_file", "bearer tokens, one per line: <role> <name> <token>",
         metavar="FILE"),
    Flag(("--data-dir",), "data_dir", "the processor's files (its journal)", metavar="DIR"),
    Flag(("--journal",), "journal.path", "the processor's journal file", metavar="FILE"),
)

HEALTH_TIMEOUT_S = 5.0


def build_api(settings: Any) -> Any:  # -> ApiServer
    try:
        from gazewire.api.server import ApiServer
    except ImportError as error:
        raise GazewireError(f"the HTTP API needs {error.name}: install gazewire with its api extra ('.[api]')") from None
    return ApiServer(settings)


def check_tokens(settings: Any) -> None:
    """Missing or bad tokens are a settings problem: ``config`` says so too."""
    from gazewire.api.tokens import load_tokens

    load_tokens(settings)


API = Program(
    name="api",
    help="the lab server's HTTP API: recordings and their data, start/stop/annotate",
    settings_class="gazewire.api.settings:ApiSettings",
    flags=API_FLAGS,
    run_help="serve the HTTP API until stopped",
    build=build_api,
    check=check_tokens,
)


def sample_config_text() -> str:
    """``gazewire api sample-config`` (examples/api.sample.toml)."""
    return API.sample_config()


def health_line(settings: Any, timeout_s: float = HEALTH_TIMEOUT_S) -> tuple[bool, str]:
    """Does the API answer on its port? ``(healthy, one line)``; asks ``/api/health`` (no token)."""
    import json
    import urllib.error
    import urllib.request

    host = settings.api.listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.api.port}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our own URL
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return False, f"unhealthy: {url} answered {error.code}"
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return False, f"unhealthy: no answer from {url}: {reason}"
    journal = answer.get("journal", "?")
    return True, f"healthy: API answers on {url}; journal {journal}; {answer.get('downloads', 0)} downloads running"


def _health(args: argparse.Namespace) -> int:
    settings = API.load_settings(args)
    healthy, line = health_line(settings)
    print(line)
    return 0 if healthy else 1


def add_api_commands(commands: argparse._SubParsersAction) -> None:
    sub = add_program_commands(commands, API)
    health = sub.add_parser("health", help="one line: does the API answer? (exit 0/1; GET /api/health)")
    API.add_arguments(health)
    health.set_defaults(handler=_health)



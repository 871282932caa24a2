"""The house's import rules (docs/architecture.md), read from the source with ast,
so a lazy import inside a function counts too.

* the wire contract imports nothing of either side;
* the agent and the processor never import each other, the client library or
  the command line; nothing below ``gazewire/cli`` imports it;
* the pure cores (``agent/pipeline``, ``processor/pipeline``) import no I/O:
  nothing from their side's ``outputs/`` (nor ``inputs/`` for the processor),
  no broker, database, socket or HTTP library, no settings or wiring;
* the archive (``gazewire/archive``, the way out) is a floor above the agent and
  the processor: it reads their files - the journal's read side, the agent's
  recording format - and imports nothing else of theirs, no broker, no CLI.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Installed package -> folder of the checkout (setup.py's package_dir).
FOLDERS = {"gazewire.agent": REPO / "agent", "gazewire.processor": REPO / "processor", "gazewire": REPO / "gazewire"}

IO_LIBRARIES = ("paho", "influxdb_client", "sqlite3", "socket", "ssl", "http", "urllib", "requests",
                "fastapi", "starlette", "uvicorn", "pyarrow", "gazewire.mqtt", "gazewire.link", "gazewire.settings")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def all_modules() -> list[Module]:
    modules = []
    for package, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "gazewire" and parts[0] in ("agent", "processor"):
                continue  # not a folder of the checkout (mapped above)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append(Module(".".join((package, *parts)), path))
    return modules


MODULES = all_modules()


def imported_names(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports, absolute; ``from a import b`` gives ``a`` and ``a.b``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join([*base, node.module] if node.module else base)
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


def under(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@dataclass(frozen=True)
class Rule:
    """Modules under ``where`` (minus ``except_``) must not import anything under ``forbidden``."""

    why: str
    where: tuple[str, ...]
    forbidden: tuple[str, ...]
    except_: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()  # parts of the forbidden packages that may be imported all the same

    def applies_to(self, module: str) -> bool:
        return under(module, *self.where) and not under(module, *self.except_)

    def broken_by(self, imports: set[str]) -> list[str]:
        return sorted(
            name for name in imports if under(name, *self.forbidden) and not under(name, *self.allowed)
        )


RULES = (
    Rule("the wire contract is imported by both sides and imports neither",
         ("gazewire.wire", "gazewire.errors"),
         ("gazewire.agent", "gazewire.processor", "gazewire.client", "gazewire.cli", "paho", "numpy",
          "gazewire.mqtt", "gazewire.link", "gazewire.settings")),
    Rule("shared infrastructure serves both sides and imports neither",
         ("gazewire.settings", "gazewire.mqtt", "gazewire.link", "gazewire.logs", "gazewire.client"),
         ("gazewire.agent", "gazewire.processor", "gazewire.cli")),
    Rule("the agent runs on tracker PCs without the processor",
         ("gazewire.agent",), ("gazewire.processor", "gazewire.client", "gazewire.cli")),
    Rule("the processor does not depend on the agent", ("gazewire.processor",),
         ("gazewire.agent", "gazewire.client", "gazewire.cli")),
    Rule("nothing below the command line imports it", ("gazewire",), ("gazewire.cli",),
         except_=("gazewire.cli", "gazewire.__main__")),
    Rule("the agent's core is pure: where a sample leaves is outputs/",
         ("gazewire.agent.pipeline",), ("gazewire.agent.outputs", "gazewire.agent.runtime",
                                        "gazewire.agent.config", *IO_LIBRARIES)),
    Rule("the processor's core is pure: messages enter in inputs/ and leave in outputs/",
         ("gazewire.processor.pipeline",),
         ("gazewire.processor.inputs", "gazewire.processor.outputs", "gazewire.processor.config",
          "gazewire.processor.aoi_file", "gazewire.processor.runtime", "gazewire.processor.status", *IO_LIBRARIES)),
    Rule("the archive reads the journal and the agent's recordings, and nothing else of either side",
         ("gazewire.archive",),
         ("gazewire.agent", "gazewire.processor", "gazewire.client", "gazewire.cli", "paho",
          "gazewire.mqtt", "gazewire.link", "gazewire.settings"),
         allowed=("gazewire.agent.recording_format", "gazewire.processor.journal.reader",
                  "gazewire.processor.journal.records")),
    Rule("the HTTP API reads through the archive and commands through the client library, nothing else of "
         "either side, no raw MQTT",
         ("gazewire.api",), ("gazewire.agent", "gazewire.processor", "gazewire.cli", "paho", "gazewire.link"),
         allowed=()),
)


def violations(module: Module) -> list[str]:
    imports = imported_names(module.path.read_text(encoding="utf-8"), module.name, is_package=module.is_package)
    found = []
    for rule in RULES:
        if rule.applies_to(module.name):
            found += [f"{module.name} imports {name}: {rule.why}" for name in rule.broken_by(imports)]
    return found


def test_the_rules_look_at_the_whole_house() -> None:
    names = {m.name for m in MODULES}
    for expected in ("gazewire.wire.messages", "gazewire.cli.main", "gazewire.agent.pipeline.combine",
                     "gazewire.agent.outputs.outbox", "gazewire.processor.pipeline.session",
                     "gazewire.processor.pipeline.eye_movements.ivt", "gazewire.processor.outputs.influx",
                     "gazewire.archive.journal", "gazewire.api.routes"):
        assert expected in names
    for rule in RULES:
        assert any(rule.applies_to(name) for name in names), f"rule matches no module: {rule.why}"


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_imports_follow_the_rules(module: Module) -> None:
    assert violations(module) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("gazewire.processor.pipeline.session", "import socket"),
        ("gazewire.processor.pipeline.session", "from gazewire.processor.outputs.points import points_of"),
        ("gazewire.processor.pipeline.session", "from ..inputs.checks import check_message"),
        ("gazewire.processor.pipeline.session", "from ...cli import main"),
        ("gazewire.processor.pipeline.session", "def later():\n    import sqlite3\n"),
        ("gazewire.agent.pipeline.batch", "from gazewire.agent.outputs.outbox import Outbox"),
        ("gazewire.agent.runtime", "from gazewire.processor.pipeline.session import Session"),
        ("gazewire.wire.messages", "from gazewire.agent.status import build_status"),
        ("gazewire.client.statuses", "from gazewire.cli.common import Program"),
        ("gazewire.settings", "from gazewire.cli import main"),
        ("gazewire.archive.journal", "from gazewire.processor.journal.store import Journal"),
        ("gazewire.archive.files", "from gazewire.agent.outputs.recording import Recording"),
        ("gazewire.archive.files", "from gazewire.cli.common import Flag"),
        ("gazewire.api.commands", "import paho.mqtt.client as mqtt"),
        ("gazewire.api.routes", "from gazewire.processor.journal.reader import JournalReader"),
    ],
)
def test_the_rules_see_every_way_of_importing(module: str, source: str) -> None:
    imports = imported_names(source, module)
    assert any(rule.applies_to(module) and rule.broken_by(imports) for rule in RULES)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("gazewire.processor.pipeline.session", "from gazewire.wire.messages import GazeBatch"),
        ("gazewire.processor.pipeline.session", "from .outcome import Outcome"),
        ("gazewire.processor.pipeline.session", "import numpy as np"),
        ("gazewire.agent.pipeline.batch", "from gazewire.agent.inputs.sdk import GazeDict"),
        ("gazewire.cli.demo", "from gazewire.agent.runtime import Agent"),
        ("gazewire.__main__", "from gazewire.cli.main import main"),
        ("gazewire.archive.journal", "from gazewire.processor.journal.reader import JournalReader"),
        ("gazewire.archive.files", "from gazewire.agent.recording_format import RecordingSidecar"),
        ("gazewire.cli.export", "from gazewire.archive import open_archive"),
        ("gazewire.api.commands", "from gazewire.client.aio import AsyncLab"),
        ("gazewire.api.downloads", "from gazewire.archive import open_archive"),
    ],
)
def test_the_rules_allow_what_the_layers_are_for(module: str, source: str) -> None:
    imports = imported_names(source, module)
    assert not any(rule.applies_to(module) and rule.broken_by(imports) for rule in RULES)

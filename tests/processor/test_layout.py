"""The processor's import rule: the pure core (``processor/pipeline/``) imports no I/O -
nothing from ``inputs/`` or ``outputs/``, no broker, database or socket library, no
settings or wiring, and never the command line. Read from the source (ast), so a lazy
import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "processor" / "pipeline"

FORBIDDEN = (
    "gazewire.processor.inputs",  # the edges depend on the core, never the other way round
    "gazewire.processor.outputs",
    "gazewire.processor.config",  # settings (pydantic-settings, and through gazewire.mqtt, paho)
    "gazewire.processor.aoi_file",  # reads a file
    "gazewire.processor.runtime",  # threads, the link, the sinks
    "gazewire.processor.status",
    "gazewire.cli",
    "gazewire.mqtt",
    "gazewire.link",
    "paho",
    "influxdb_client",
    "sqlite3",
    "socket",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO / "processor").with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("gazewire", "processor", *parts))


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


def forbidden_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    return sorted(
        name
        for name in imported_names(source, module, is_package=is_package)
        if any(name == rule or name.startswith(rule + ".") for rule in FORBIDDEN)
    )


CORE_MODULES = sorted(PIPELINE.rglob("*.py"))


def test_the_core_is_where_the_rule_looks():
    names = {module_name(path) for path in CORE_MODULES}
    assert {"gazewire.processor.pipeline.session", "gazewire.processor.pipeline.eye_movements.ivt"} <= names
    assert all((path.parent / "__init__.py").exists() for path in CORE_MODULES)


@pytest.mark.parametrize("path", CORE_MODULES, ids=[module_name(p) for p in CORE_MODULES])
def test_no_core_module_imports_io(path: Path):
    found = forbidden_imports(path.read_text(), module_name(path), is_package=path.name == "__init__.py")
    assert not found, f"{path.relative_to(REPO)} imports {', '.join(found)}: the core imports no I/O"


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import paho.mqtt.client as paho",
        "from gazewire.processor.outputs.points import points_of",
        "from gazewire.processor import inputs",
        "from ..inputs.checks import check_message",
        "from ...cli import main",  # from gazewire.processor.pipeline: gazewire.cli
        "def later():\n    import sqlite3\n",
        "from influxdb_client import InfluxDBClient",
        "from gazewire.processor.config import ProcessorSettings",
    ],
)
def test_the_rule_sees_every_way_of_importing(source: str):
    assert forbidden_imports(source, "gazewire.processor.pipeline.session")


@pytest.mark.parametrize(
    "source",
    [
        "from gazewire.wire.messages import GazeBatch",
        "from gazewire.processor.pipeline.bad_input import BadInput",
        "from .outcome import Outcome",
        "import numpy as np",
        "from gazewire.processor.pipeline import inputs_like_name",
    ],
)
def test_the_rule_allows_the_core_and_the_contract(source: str):
    assert forbidden_imports(source, "gazewire.processor.pipeline.session") == []

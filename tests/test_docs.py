"""The documentation points at things that exist and at installs that work."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO

DOCS = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "deploy").rglob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def in_the_repository(path: Path) -> bool:
    """Exists, and is not something git ignores (test-artifacts/, build output): a clone has it too."""
    if not path.exists():
        return False
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return True
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, capture_output=True)
    return ignored.returncode != 0


def test_every_relative_link_and_image_is_in_the_repository() -> None:
    broken = []
    for doc in DOCS:
        for target in LINK.findall(FENCE.sub("", doc.read_text())):
            path = target.split("#")[0]
            if path and not re.match(r"[a-z][a-z0-9+.-]*:", path) and not in_the_repository(doc.parent / path):
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert broken == []


def test_no_install_from_pypi_is_documented() -> None:
    """gazewire is not on PyPI: every documented pip install names a clone or a wheel."""
    from_pypi = re.compile(r"pip install\s+(?:-\S+\s+)*[\"']?gazewire(?:\[[^\]]*\])?(?=[\"'`\s]|$)", re.MULTILINE)
    found = [f"{doc.relative_to(REPO)}: {match.group(0)}" for doc in DOCS for match in from_pypi.finditer(doc.read_text())]
    assert found == []


def test_the_documented_wheel_build_is_the_tested_one() -> None:
    readme = (REPO / "README.md").read_text()
    assert "python3 -m pip wheel --no-deps -w dist ." in readme  # tests/support/packaging.py: build_wheel
    assert "python3.10 -m pip install '.[tobii]'" in readme

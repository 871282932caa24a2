"""Fixtures of the fault scenarios: one :class:`~tests.faults.lab.Lab` of real processes
per test, everything stopped afterwards (logs stay in the test's tmp_path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.lab import Lab


@pytest.fixture
def lab_of(tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    labs: list[Lab] = []

    def make(**options) -> Lab:
        lab = Lab(tmp_path / f"lab-{len(labs)}", **options).start()
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.close()

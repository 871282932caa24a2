"""``gazewire/__init__.py``: what a user imports, and that importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gazewire

IMPORT_PROBE = (
    "import sys, gazewire\n"
    "heavy = sorted(n for n in ('pydantic', 'pydantic_settings', 'paho', 'numpy') if n in sys.modules)\n"
    "print(','.join(heavy) or 'none')\n"
)


def test_every_public_name_resolves() -> None:
    for name in gazewire.__all__:
        assert getattr(gazewire, name) is not None, name
    assert set(gazewire.__all__) <= set(dir(gazewire))


def test_the_settings_classes_are_the_programs_own() -> None:
    from gazewire.agent.config import AgentSettings
    from gazewire.processor.config import ProcessorSettings

    assert gazewire.AgentSettings is AgentSettings
    assert gazewire.ProcessorSettings is ProcessorSettings


def test_the_error_classes_share_one_root() -> None:
    for name in gazewire.__all__:
        value = getattr(gazewire, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, gazewire.GazewireError), name


def test_the_client_classes_are_the_client_librarys_own() -> None:
    from gazewire.client import AsyncLab, ClockOffset, Lab, Recording, Session

    assert (gazewire.Lab, gazewire.Session, gazewire.AsyncLab, gazewire.Recording, gazewire.ClockOffset) == (
        Lab, Session, AsyncLab, Recording, ClockOffset)


def test_the_client_package_names_what_it_loads_lazily() -> None:
    import gazewire.client

    assert sorted(gazewire.client.__all__) == sorted(gazewire.client._LAZY)
    for name in gazewire.client.__all__:
        assert getattr(gazewire.client, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'AgentSetings'"):
        gazewire.AgentSetings  # noqa: B018


def test_importing_gazewire_loads_no_third_party_package() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"

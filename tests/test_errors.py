"""One exception tree: every exception class defined anywhere in gazewire
derives from :class:`gazewire.GazewireError`, so a caller catches one root."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gazewire
from gazewire import errors

# Exception classes a user never sees, each with the reason. Empty today; a
# class added here must say why it stays outside the tree.
INTERNAL: dict[str, str] = {}


def every_module() -> list[str]:
    """Every module of the installed package (the agent and the processor are
    separate folders mapped into it, so they are walked from their own path)."""
    import gazewire.agent
    import gazewire.processor

    names = []
    for package in (gazewire, gazewire.agent, gazewire.processor):
        names.append(package.__name__)
        names.extend(
            info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
            if not info.name.endswith("__main__")  # runs the command line on import
        )
    return sorted(set(names))


def exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for name in every_module():
        module = importlib.import_module(name)  # an import that fails here fails the test
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_the_walk_sees_the_agent_the_processor_and_the_command_line() -> None:
    modules = every_module()
    for expected in ("gazewire.agent.outputs.outbox", "gazewire.processor.outputs.influx", "gazewire.cli.users"):
        assert expected in modules


def test_every_exception_class_derives_from_the_one_root() -> None:
    classes = exception_classes()
    assert "gazewire.agent.outputs.outbox.OutboxError" in classes  # the walk finds them at all
    strays = sorted(
        name for name, cls in classes.items()
        if not issubclass(cls, errors.GazewireError) and name not in INTERNAL
    )
    assert strays == [], f"exception classes outside GazewireError: {strays}"


def test_internal_exceptions_are_still_defined_and_give_a_reason() -> None:
    classes = exception_classes()
    for name, reason in INTERNAL.items():
        assert name in classes, f"{name} is listed as internal but no longer exists"
        assert reason.strip(), name


def test_the_errors_named_by_the_issue_are_in_the_tree() -> None:
    from gazewire.agent.outputs.outbox import OutboxError
    from gazewire.processor.outputs.influx import WriteRefused
    from gazewire.processor.outputs.lineprotocol import EmptyPointError
    from gazewire.processor.outputs.measurements import UnknownNameError

    for cls in (OutboxError, WriteRefused, EmptyPointError, UnknownNameError):
        assert issubclass(cls, gazewire.GazewireError), cls

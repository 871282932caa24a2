"""``gazewire agent`` and ``gazewire processor``: one parser setup
(gazewire/cli/common.py), each program's flags naming real settings."""

from __future__ import annotations

import argparse

import pytest

from gazewire.cli.agent import AGENT
from gazewire.cli.common import Program
from gazewire.cli.main import build_parser
from gazewire.cli.processor import PROCESSOR

PROGRAMS = [AGENT, PROCESSOR]


def actions(parser: argparse.ArgumentParser, *path: str) -> dict[str, argparse.ArgumentParser]:
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def setting_exists(settings_class: type, dotted: str) -> bool:
    cls = settings_class
    for part in dotted.split("."):
        field = cls.model_fields.get(part)
        if field is None:
            return False
        cls = field.annotation
    return True


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_every_flag_names_a_real_setting(program: Program) -> None:
    settings_class = program.load_settings_class()
    for flag in program.flags:
        assert setting_exists(settings_class, flag.setting), f"{flag.names[0]} -> {flag.setting}"


def test_both_programs_have_the_same_run_config_and_sample_config() -> None:
    parser = build_parser()
    agent, processor = actions(parser, "agent"), actions(parser, "processor")
    shared = {"run", "config", "sample-config"}
    assert shared <= set(agent) and shared <= set(processor)
    assert set(agent) - shared == {"list-trackers", "service"}
    assert set(processor) - shared == {"health", "replay"}
    for name in ("run", "config"):
        common = {a.dest for a in agent[name]._actions} & {a.dest for a in processor[name]._actions}
        assert {"config", "broker", "username", "topic_prefix", "log_level", "set"} <= common


@pytest.mark.parametrize(("argv", "expected"), [
    (["agent", "config", "--session", "s1", "--frequency", "250", "--no-record", "--exit-when-finished"],
     {"session": "s1", "frequency_hz": "250", "record": False, "exit_when_finished": True}),
    (["agent", "config", "--broker", "labserver:1884", "--set", "mqtt.keepalive_s=30"],
     {"mqtt.host": "labserver", "mqtt.port": "1884", "mqtt.keepalive_s": "30"}),
    (["processor", "config", "--id", "p1", "--influx-url", "http://db:8086", "--algorithm", "idt"],
     {"processor_id": "p1", "influx.url": "http://db:8086", "algorithm": "idt"}),
])
def test_flags_become_overrides_of_their_settings(argv: list[str], expected: dict) -> None:
    args = build_parser().parse_args(argv)
    program = AGENT if argv[0] == "agent" else PROCESSOR
    assert program.overrides(args) == expected


def test_a_switch_not_given_overrides_nothing() -> None:
    args = build_parser().parse_args(["agent", "config"])
    assert AGENT.overrides(args) == {}


def test_sample_configs_are_titled_by_program() -> None:
    assert AGENT.sample_config().startswith("# gazewire agent: sample configuration (agent.toml)\n")
    assert PROCESSOR.sample_config().startswith("# gazewire processor: sample configuration (processor.toml)\n")


def test_the_package_main_is_the_function_even_after_its_module_is_imported() -> None:
    import importlib

    importlib.import_module("gazewire.cli.main")
    from gazewire.cli import main

    assert callable(main) and main.__module__ == "gazewire.cli.main"

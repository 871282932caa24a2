"""``gazewire processor ...``: run the processor, show its settings, print a sample config."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gazewire.cli.common import (
    add_common_settings_arguments,
    flag_overrides,
    install_shutdown_handlers,
    print_effective_settings,
)
from gazewire.settings import load_settings, sample_config


def _add_processor_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_settings_arguments(parser)
    group = parser.add_argument_group("processor")
    group.add_argument("--id", dest="processor_id", metavar="ID", help="processor id (status topic, client id)")
    group.add_argument("--algorithm", choices=["ivt", "idt", "ivd"], help="eye-movement detector")
    group.add_argument("--aoi-file", metavar="TOML", help="areas of interest (see examples/aoi.toml)")
    group.add_argument("--influx-url", metavar="URL", help="InfluxDB 2.x URL; token via GAZEWIRE_INFLUX__TOKEN")
    group.add_argument("--influx-org", metavar="ORG", help="InfluxDB organisation")
    group.add_argument("--influx-bucket", metavar="BUCKET", help="InfluxDB bucket")
    group.add_argument("--lineprotocol-dir", metavar="DIR", help="line-protocol files when no InfluxDB URL is set")
    group.add_argument("--data-dir", metavar="DIR", help="the processor's files")


def _processor_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return flag_overrides(args, {
        "processor_id": "processor_id", "algorithm": "algorithm", "aoi_file": "aoi_file",
        "influx_url": "influx.url", "influx_org": "influx.org", "influx_bucket": "influx.bucket",
        "lineprotocol_dir": "lineprotocol_dir", "data_dir": "data_dir",
    })


def load_processor_settings(args: argparse.Namespace):  # -> ProcessorSettings
    from gazewire.processor.config import ProcessorSettings

    return load_settings(ProcessorSettings, config_file=args.config, overrides=_processor_overrides(args))


def _run(args: argparse.Namespace) -> int:
    from gazewire.logs import configure_logging
    from gazewire.processor.runtime import Processor

    settings = load_processor_settings(args)
    configure_logging(settings.log_level)
    processor = Processor(settings)
    install_shutdown_handlers(processor.request_shutdown)
    processor.run()
    return 0


def _config(args: argparse.Namespace) -> int:
    settings = load_processor_settings(args)
    from gazewire.processor.runtime import load_aois

    load_aois(settings)  # a broken AOI file is a settings problem: say so here too
    print_effective_settings(settings, "processor")
    return 0


def sample_config_text() -> str:
    from gazewire.processor.config import ProcessorSettings

    return sample_config(ProcessorSettings, title="gazewire processor: sample configuration (processor.toml)")


def _health(args: argparse.Namespace) -> int:
    from gazewire.cli.health import main

    return main()


def _sample_config(args: argparse.Namespace) -> int:
    sys.stdout.write(sample_config_text())
    return 0


def add_processor_commands(commands: argparse._SubParsersAction) -> None:
    processor = commands.add_parser("processor", help="the lab server: fixations, alerts, InfluxDB")
    sub = processor.add_subparsers(dest="processor_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="process every session's gaze until stopped")
    _add_processor_arguments(run)
    run.set_defaults(handler=_run)

    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    _add_processor_arguments(config)
    config.set_defaults(handler=_config)

    sample = sub.add_parser("sample-config", help="print a commented sample processor.toml with every option")
    sample.set_defaults(handler=_sample_config)

    health = sub.add_parser(
        "health",
        help="one line: is the running processor healthy? (exit 0/1; its retained status: online, fresh, sink ok)",
    )
    health.set_defaults(handler=_health)

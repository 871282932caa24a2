"""``gazewire processor ...``: run the processor, show its settings, print a
sample config, check the running processor's health."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gazewire.cli.common import Flag, Program, add_program_commands

PROCESSOR_FLAGS = (
    Flag(("--id",), "processor_id", "processor id (status topic, client id)", metavar="ID"),
    Flag(("--algorithm",), "algorithm", "eye-movement detector", choices=["ivd", "ivt", "idt"]),
    Flag(("--aoi-file",), "aoi_file", "areas of interest (see examples/aoi.toml)", metavar="TOML"),
    Flag(("--influx-url",), "influx.url", "InfluxDB 2.x URL; token via GAZEWIRE_INFLUX__TOKEN", metavar="URL"),
    Flag(("--influx-org",), "influx.org", "InfluxDB organisation", metavar="ORG"),
    Flag(("--influx-bucket",), "influx.bucket", "InfluxDB bucket", metavar="BUCKET"),
    Flag(("--lineprotocol-dir",), "lineprotocol_dir", "line-protocol files when no InfluxDB URL is set", metavar="DIR"),
    Flag(("--data-dir",), "data_dir", "the processor's files", metavar="DIR"),
)


def build_processor(settings: Any) -> Any:  # -> Processor
    from gazewire.processor.runtime import Processor

    return Processor(settings)


def _since(text: str) -> int | None:
    """``all``, or an ISO 8601 time with a zone (``2026-11-30T09:00:00Z``)."""
    if text == "all":
        return None
    from gazewire.wire.timeutil import utc_us_from_iso

    try:
        return utc_us_from_iso(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'all' or an ISO 8601 time with a zone, e.g. 2026-11-30T09:00:00Z"
        ) from None


def _replay(args: argparse.Namespace) -> int:
    from gazewire.logs import configure_logging
    from gazewire.processor.replay import replay

    settings = load_processor_settings(args)
    configure_logging(settings.log_level)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rreplaying journal records: {done}/{total}")
            sys.stderr.flush()

    result = replay(settings, since_utc_us=args.since, sink_kind=args.sink, progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"replayed {result.records} journal records: {result.points_written} points written, "
          f"{result.points_rejected} refused as invalid")
    return 0 if result.points_rejected == 0 else 1


def check_aoi_file(settings: Any) -> None:
    """A broken AOI file is a settings problem: ``config`` says so too."""
    from gazewire.processor.runtime import load_aois

    load_aois(settings)


PROCESSOR = Program(
    name="processor",
    help="the lab server: fixations, alerts, InfluxDB",
    settings_class="gazewire.processor.config:ProcessorSettings",
    flags=PROCESSOR_FLAGS,
    run_help="process every session's gaze until stopped",
    build=build_processor,
    check=check_aoi_file,
)


def load_processor_settings(args: argparse.Namespace) -> Any:  # -> ProcessorSettings
    return PROCESSOR.load_settings(args)


def sample_config_text() -> str:
    """``gazewire processor sample-config`` (examples/processor.sample.toml)."""
    return PROCESSOR.sample_config()


def _health(args: argparse.Namespace) -> int:
    from gazewire.cli.health import main

    return main()


def add_processor_commands(commands: argparse._SubParsersAction) -> None:
    sub = add_program_commands(commands, PROCESSOR)

    replay = sub.add_parser(
        "replay", help="rebuild a sink (InfluxDB or line-protocol files) from the journal, byte-identical"
    )
    PROCESSOR.add_arguments(replay)
    replay.add_argument("--since", required=True, type=_since, metavar="TIME",
                        help="records received since this UTC time (ISO 8601 with a zone), or 'all'")
    replay.add_argument("--sink", choices=["influx", "lineprotocol"],
                        help="which sink to rebuild (default: the configured one)")
    replay.set_defaults(handler=_replay)

    health = sub.add_parser(
        "health",
        help="one line: is the running processor healthy? (exit 0/1; its retained status: online, fresh, sink ok)",
    )
    health.set_defaults(handler=_health)

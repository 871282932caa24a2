"""``gazewire export`` and ``gazewire recordings``: the way out of the archive.

    gazewire recordings                                      list what the archive holds
    gazewire export 20261130T101500Z-3f9a --format bids --screen-resolution 1920x1080 -o study/
    gazewire export --session room1 --from 2026-11-30T10:00:00Z --to 2026-11-30T10:05:00Z --format csv -o out/
    gazewire export --since 2026-11-30 --format parquet -o parquet/

The archive is the lab server's journal (``--journal PATH``, else the processor's
settings: ``<data_dir>/journal.sqlite``) or, on a tracker PC, the agent's recordings
(``--recordings DIR``, else the agent's ``<data_dir>/recordings``). An unknown recording,
an empty range or an output folder that is not empty is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


def _time(text: str) -> int:
    """An ISO 8601 time with a zone, a date (its midnight, UTC), or UTC microseconds (the
    data's utc_us; as the HTTP API takes them)."""
    from gazewire.wire.timeutil import utc_us_from_iso

    if text.isdigit() and len(text) > 8:  # not a year or a compact date: microseconds
        return int(text)
    candidate = text + "T00:00:00Z" if len(text) == 10 and text[4:5] == "-" else text
    try:
        return utc_us_from_iso(candidate)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-11-30), an ISO 8601 time with a zone (2026-11-30T09:00:00Z) or UTC "
            "microseconds"
        ) from None


def _resolution(text: str) -> tuple[int, int]:
    from gazewire.archive.bids import parse_resolution

    try:
        return parse_resolution(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _distance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 5.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a viewing distance in metres (0.1 to 5), e.g. 0.65")
    return value


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("archive (default: the journal, else the agent's recordings, in the data dir)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--journal", metavar="PATH", help="the processor's journal.sqlite (lab server)")
    source.add_argument("--recordings", metavar="DIR", help="the agent's data dir or its recordings/ (tracker PC)")
    group.add_argument("--config", "-c", metavar="FILE", help="the processor's or agent's TOML config (its data_dir)")


def open_source(args: argparse.Namespace) -> Any:  # -> Archive
    from gazewire.archive import open_archive

    if args.journal:
        return open_archive(journal=args.journal)
    if args.recordings:
        return open_archive(recordings=args.recordings)
    journal, recordings = _configured_places(args.config)
    if journal is not None and journal.is_file():
        return open_archive(journal=journal)
    if recordings is not None and recordings.is_dir():
        return open_archive(recordings=recordings)
    from gazewire.archive import ArchiveNotFound

    places = " or ".join(repr(str(p)) for p in (journal, recordings) if p is not None)
    raise ArchiveNotFound(f"no archive at {places}: give --journal PATH or --recordings DIR")


def open_named_source(args: argparse.Namespace) -> Any:  # -> Archive
    """:func:`open_source`; an archive that cannot be opened at all (a file that is no journal,
    a folder that cannot be read) is a mistake in what was named: ArchiveNotFound (exit 2)."""
    from gazewire.archive import ArchiveError, ArchiveNotFound

    try:
        return open_source(args)
    except ArchiveNotFound:
        raise
    except ArchiveError as error:
        raise ArchiveNotFound(str(error)) from None


def _configured_places(config: str | None) -> tuple[Path | None, Path | None]:
    """The processor's journal and the agent's recordings folder, as the settings say."""
    from gazewire.errors import SettingsError
    from gazewire.settings import load_settings

    journal = recordings = None
    problems = []
    try:
        from gazewire.processor.config import ProcessorSettings
    except ImportError:  # a tracker PC without the processor
        pass
    else:
        try:
            journal = load_settings(ProcessorSettings, config_file=config).journal_path
        except SettingsError as error:
            problems.append(error)
    from gazewire.agent.config import AgentSettings

    try:
        recordings = load_settings(AgentSettings, config_file=config).recording_dir
    except SettingsError as error:
        problems.append(error)
    if journal is None and recordings is None and problems:
        raise problems[0]
    return journal, recordings


class ProgressBar:
    """One line on stderr, rewritten at most ten times a second; only on a terminal."""

    def __init__(self, total: int | None, stream: Any = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0

    def __call__(self, samples: int) -> None:
        self.done += samples
        now = time.monotonic()
        if self.enabled and now - self._shown >= 0.1:
            self._shown = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-6)
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = int(share * 30)
            line = (f"\rexporting [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} "
                    f"{self.done:,}/{self.total:,} samples, {rate:,.0f}/s")
        else:
            line = f"\rexporting {self.done:,} samples, {rate:,.0f}/s"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def _export(args: argparse.Namespace) -> int:
    from gazewire.archive import ArchiveNotFound, BadSelection, UnknownRecording, UnknownSession
    from gazewire.archive.bids import LabelClash, MissingFact
    from gazewire.archive.export import CannotWrite, NothingToExport, OutputExists, check_output, export, plan

    user_errors = (UnknownRecording, UnknownSession, BadSelection, NothingToExport, OutputExists, MissingFact,
                   ArchiveNotFound, CannotWrite, LabelClash)
    chosen = [args.recording is not None, args.session is not None, args.since is not None]
    if sum(chosen) != 1:
        return _usage("export: choose one of RECORDING, --session SESSION or --since TIME")
    if (args.start is not None or args.end is not None) and args.session is None and args.recording is None:
        return _usage("export: --from and --to cut a recording or a --session")
    output = Path(args.output).expanduser()
    try:
        check_output(output, args.force)  # before reading anything
        archive = open_named_source(args)
        items = plan(archive, recording=args.recording, session=args.session, from_utc_us=args.start,
                     to_utc_us=args.end, since_utc_us=args.since, by_recording=args.format == "bids")
        total = sum(item.samples or 0 for item in items) if all(i.samples for i in items) else None
        bar = ProgressBar(total)
        options = {}
        if args.format == "bids":
            options = {"task": args.task, "screen_resolution": args.screen_resolution,
                       "screen_distance_m": args.screen_distance}
        try:
            result = export(archive, items, output, args.format, force=args.force, progress=bar, **options)
        finally:
            bar.close()
    except user_errors as error:
        return _usage(f"export: {error}")
    except KeyboardInterrupt:
        print(f"gazewire export: interrupted; the file being written was removed, the export in {str(output)!r} "
              "is incomplete", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"wrote {len(result.files)} files to {output}: {result.samples:,} samples"
          + "".join(f", {rows:,} {table}" for table, rows in result.rows.items() if table != "gaze"))
    return EXIT_OK


def _recordings(args: argparse.Namespace) -> int:
    from gazewire.archive import ArchiveNotFound, UnknownSession
    from gazewire.wire.timeutil import iso_from_utc_us

    try:
        archive = open_named_source(args)
        listed = archive.recordings(args.session, since_utc_us=args.since, participant=args.participant)
    except (UnknownSession, ArchiveNotFound) as error:
        return _usage(f"recordings: {error}")
    if args.json:
        for summary in listed:
            print(json.dumps(summary.to_dict()))
        return EXIT_OK
    if not listed:
        print(f"no recordings in {archive.description}", file=sys.stderr)
        return EXIT_OK
    header = ("session", "recording", "name", "participant", "start (UTC)", "duration", "samples", "valid",
              "losses")
    rows = [header]
    for s in listed:
        start = iso_from_utc_us(s.start_utc_us)[:19].replace("T", " ") if s.start_utc_us is not None else "-"
        losses = ", ".join(f"{name} {count}" for name, count in sorted(s.losses.items())) or "none"
        valid = f"{s.valid_share:.1%}" if s.valid_share is not None else "-"
        rows.append((s.session, s.id, s.name or "-", s.participant or "-", start, _duration(s.duration_s),
                     f"{s.samples:,}", valid, losses))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return EXIT_OK


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _usage(message: str) -> int:
    print(f"gazewire {message}", file=sys.stderr)
    return EXIT_USAGE


def add_export_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export", help="write recordings as CSV, Parquet or a BIDS dataset",
        description="Export one recording, a session's time range, or every recording since a time.",
    )
    export.add_argument("recording", nargs="?", metavar="RECORDING", help="a recording id (see gazewire recordings)")
    export.add_argument("--session", metavar="SESSION", help="a session (with --from/--to: its time range)")
    export.add_argument("--from", dest="start", type=_time, metavar="TIME", help="from this UTC time (included)")
    export.add_argument("--to", dest="end", type=_time, metavar="TIME", help="to this UTC time (excluded)")
    export.add_argument("--since", type=_time, metavar="TIME", help="every recording started since this date or time")
    export.add_argument("--format", "-f", required=True, choices=["csv", "parquet", "bids"], help="output format")
    export.add_argument("--output", "-o", required=True, metavar="DIR", help="the folder to write (created)")
    export.add_argument("--force", action="store_true", help="write into a folder that is not empty, over its files")
    bids = export.add_argument_group("bids")
    bids.add_argument("--task", metavar="LABEL", help="the BIDS task label (default: from the recording's name)")
    bids.add_argument("--screen-resolution", type=_resolution, metavar="WxH",
                      help="the screen's resolution in pixels, e.g. 1920x1080 (default: the recording's metadata "
                           "screen_resolution)")
    bids.add_argument("--screen-distance", type=_distance, metavar="METRES",
                      help="the eyes' distance from the screen (default: measured by the tracker)")
    add_source_arguments(export)
    export.set_defaults(handler=_export)

    recordings = commands.add_parser("recordings", help="list the recordings in the archive")
    recordings.add_argument("--session", metavar="SESSION", help="only this session")
    recordings.add_argument("--since", type=_time, metavar="TIME", help="only those started since")
    recordings.add_argument("--participant", metavar="ID", help="only this participant's")
    recordings.add_argument("--json", action="store_true", help="one JSON object a line")
    add_source_arguments(recordings)
    recordings.set_defaults(handler=_recordings)

"""``gazewire agent service install|remove|start|stop|status``: the agent as a
Windows service (pywin32, the ``windows`` extra). See docs/services.md.

On Linux (or without pywin32) every action fails with exit code 1 and says
what to use instead: the systemd unit in deploy/systemd.
"""

from __future__ import annotations

import argparse
import importlib

from gazewire.agent.service.windows import DEFAULT_SERVICE_NAME, STARTUP_TYPES


def _windows():
    # Looked up at call time (sys.modules), not bound at import: tests load the
    # module again with stand-ins for pywin32.
    return importlib.import_module("gazewire.agent.service.windows")


def _install(args: argparse.Namespace) -> int:
    windows = _windows()
    config = windows.install_service(
        config=args.config,
        startup=args.startup,
        name=args.name,
        display_name=args.display_name,
        check_config=not args.no_check,
    )
    print(f"installed service {args.name!r} (startup {args.startup}) with config {config}")
    print(f"logs: {windows.logs_dir() / (args.name + '.log')} and the event log (Application, source {args.name})")
    print(f"start it: gazewire agent service start{_name_flag(args.name)}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    _windows().remove_service(args.name)
    print(f"removed service {args.name!r} (config, logs and data in {_windows().program_data_dir()} are kept)")
    return 0


def _start(args: argparse.Namespace) -> int:
    extra = ["--config", args.config] if args.config else None
    _windows().start_service(args.name, wait_s=0 if args.no_wait else args.wait, args=extra)
    print(f"service {args.name!r} {'start requested' if args.no_wait else 'running'}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    _windows().stop_service(args.name, wait_s=0 if args.no_wait else args.wait)
    print(f"service {args.name!r} {'stop requested' if args.no_wait else 'stopped'}")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _windows().service_status(args.name)
    print(f"service {status.name!r}: {status.state}")
    print(f"config: {status.config or '(not set: ' + str(_windows().default_config_path()) + ')'}")
    if status.last_status:
        print(f"agent: {status.last_status}")
    return 0


def _name_flag(name: str) -> str:
    return "" if name == DEFAULT_SERVICE_NAME else f" --name {name}"


def add_service_commands(subparsers: argparse._SubParsersAction) -> None:
    service = subparsers.add_parser(
        "service",
        help="install and control the agent as a Windows service (Linux: deploy/systemd)",
        description="The agent as a Windows service through pywin32 (the 'windows' extra); "
        "run from an administrator prompt. On Linux use the systemd unit in deploy/systemd.",
    )
    sub = service.add_subparsers(dest="service_command", metavar="ACTION", required=True)

    def with_name(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--name", default=DEFAULT_SERVICE_NAME, help=f"service name (default {DEFAULT_SERVICE_NAME})"
        )
        return parser

    install = with_name(sub.add_parser("install", help="register the service (and its restart-on-failure actions)"))
    install.add_argument(
        "--config", "-c", metavar="PATH",
        help=r"agent config file the service runs with (default %%PROGRAMDATA%%\gazewire\agent.toml)",
    )
    install.add_argument(
        "--startup", choices=STARTUP_TYPES, default="auto",
        help="auto: at boot; delayed: shortly after boot (after the network); manual (default auto)",
    )
    install.add_argument("--display-name", metavar="TEXT", help="name shown in services.msc")
    install.add_argument(
        "--no-check", action="store_true", help="install even if the config file does not load now"
    )
    install.set_defaults(handler=_install)

    remove = with_name(sub.add_parser("remove", help="stop and unregister the service (files are kept)"))
    remove.set_defaults(handler=_remove)

    start = with_name(sub.add_parser("start", help="start the service and wait until the agent runs"))
    start.add_argument("--config", "-c", metavar="PATH", help="use this config file for this run only")
    start.add_argument("--wait", type=int, default=60, metavar="S", help="seconds to wait for RUNNING (default 60)")
    start.add_argument("--no-wait", action="store_true", help="return at once")
    start.set_defaults(handler=_start)

    stop = with_name(sub.add_parser("stop", help="stop the service; the agent flushes to the broker first"))
    stop.add_argument("--wait", type=int, default=40, metavar="S", help="seconds to wait for STOPPED (default 40)")
    stop.add_argument("--no-wait", action="store_true", help="return at once")
    stop.set_defaults(handler=_stop)

    status = with_name(sub.add_parser("status", help="service state, config path and the agent's last status line"))
    status.set_defaults(handler=_status)

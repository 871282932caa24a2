"""``gazewire demo``: the whole system on one machine, no hardware.

Starts a Mosquitto broker on free loopback ports (unless a broker is
configured), one or more simulated agents, the processor, and a live console
view built only from what is on the wire: a plain MQTT subscriber, like any
other lab device. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gazewire.cli.common import install_shutdown_handlers
from gazewire.errors import GazewireError

log = logging.getLogger("gazewire.cli.demo")

REPO = Path(__file__).resolve().parents[2]
WWW_DIR = REPO / "deploy" / "mosquitto" / "www"
DEMO_AOI_FILE = REPO / "examples" / "demo-aoi.toml"
# Thresholds lowered so that a few minutes of simulated gaze show every kind of alert.
DEMO_ALERTS = {"alerts.long_fixation_s": 0.6, "alerts.aoi_dwell_s": 1.5, "alerts.gaze_lost_s": 0.25}


# --------------------------------------------------------------------------- local broker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str | None:
    for candidate in ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _die_with_parent() -> None:
    """In the broker's child process (Linux): SIGTERM when the demo dies, even by SIGKILL."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalBroker:
    """A throw-away Mosquitto on 127.0.0.1: MQTT and WebSocket (serving the live page)."""

    def __init__(self, directory: Path) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise GazewireError(
                "the demo needs Mosquitto: sudo apt-get install mosquitto "
                "(or set GAZEWIRE_MQTT__HOST to use a running broker)"
            )
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.websocket_port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            "per_listener_settings false",
            # Runs as whoever runs the demo, root included. As root Mosquitto would otherwise switch
            # to user 'mosquitto', which cannot enter a private data dir or a checkout under /root
            # (config, log, http_dir); a throw-away, anonymous, loopback-only broker gains nothing.
            *(["user root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            "set_tcp_nodelay true",  # no Nagle delay (~40 ms) on forwarded messages
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {self.directory / 'mosquitto.log'}",
            # Loopback only: the broker is anonymous. Mosquitto 2.0 ignores the address of a
            # websockets listener (and listens on every interface, IPv4 and IPv6) unless
            # socket_domain ipv4 is given; tests/test_demo.py checks every socket with ss.
            f"listener {self.port} 127.0.0.1",
            "socket_domain ipv4",
            "protocol mqtt",
            f"listener {self.websocket_port} 127.0.0.1",
            "socket_domain ipv4",
            "protocol websockets",
        ]
        if WWW_DIR.is_dir():
            lines.append(f"http_dir {WWW_DIR}")
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        # Its own session: Ctrl-C in the terminal goes to the whole foreground group,
        # and the broker must outlive the agents' final flush; the demo stops it last.
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + 10
        waiting = [self.port, self.websocket_port]  # opened one after the other
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise GazewireError(f"mosquitto failed to start: {error.strip() or 'see ' + str(config)}")
            try:
                with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2):
                    waiting.pop(0)
                    if not waiting:
                        return
            except OSError:
                time.sleep(0.05)  # readiness probe: mosquitto has no other signal
        raise GazewireError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# --------------------------------------------------------------------------- the demo


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stop_requested = threading.Event()
        self.threads: list[threading.Thread] = []
        self.agents: list[Any] = []
        self.processor: Any = None
        self.broker: LocalBroker | None = None
        # Without --data-dir the demo's files (recordings, outboxes, time series, broker log:
        # about 10 MB a minute with the defaults) go to a new temporary directory, removed when the demo ends.
        self.temporary = not args.data_dir
        self.work = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="gazewire-demo-"))

    def request_stop(self) -> None:
        """Safe from any thread; not from a signal handler (see install_shutdown_handlers)."""
        self.stop_requested.set()

    def run(self) -> int:
        from gazewire.agent.config import AgentSettings
        from gazewire.agent.inputs.simulated import SimulatedTracker
        from gazewire.agent.runtime import Agent
        from gazewire.cli.demo_view import ConsoleView
        from gazewire.settings import load_settings

        overrides: dict[str, Any] = {"source": "simulated", "data_dir": str(self.work / "agents")}
        if not os.environ.get("GAZEWIRE_MQTT__HOST") and not self.args.broker:
            self.broker = LocalBroker(self.work / "broker")
            self.broker.start()
            overrides["mqtt.host"], overrides["mqtt.port"] = "127.0.0.1", self.broker.port
        elif self.args.broker:
            from gazewire.mqtt import parse_broker

            host, port = parse_broker(self.args.broker)
            overrides["mqtt.host"] = host
            if port:
                overrides["mqtt.port"] = port
        base = load_settings(AgentSettings, overrides={**overrides, "session": "demo-1"})
        mqtt = base.mqtt
        sessions = [f"demo-{i + 1}" for i in range(self.args.agents)]

        view = ConsoleView(mqtt, base.topic_prefix, plain=self.args.plain or not sys.stdout.isatty())
        view.start()
        self._start_processor(mqtt, base.topic_prefix)
        for i, session in enumerate(sessions):
            settings = base.model_copy(
                update={"session": session, "seed": i, "frequency_hz": self.args.frequency}
            )
            source = SimulatedTracker(frequency_hz=self.args.frequency, seed=i)
            agent = Agent(settings, source)
            self.agents.append(agent)
            self._thread(agent.run, f"agent-{session}")

        where = f"{mqtt.host}:{mqtt.port}"
        print(f"gazewire demo: {len(sessions)} simulated agent(s) at {self.args.frequency:g} Hz on broker {where}")
        if self.broker is not None and WWW_DIR.is_dir():
            print(f"  live page:   http://127.0.0.1:{self.broker.websocket_port}/  (any user name, no password)")
        if self.temporary:
            print(f"  data:        {self.work}  (temporary: removed when the demo stops; keep it with --data-dir)")
        print(f"  recordings:  {self.work / 'agents' / 'recordings'}")
        if self.processor is not None:
            print(f"  time series: {self.processor_output}")
            print("  alerts:      thresholds lowered for the demo (long fixation 0.6 s, AOI dwell 1.5 s, gaze lost 0.25 s)")
        print("  stop with Ctrl-C\n")

        deadline = time.monotonic() + self.args.duration if self.args.duration else None
        try:
            while not self.stop_requested.is_set():
                timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                self.stop_requested.wait(timeout)
                view.render()
                if deadline is not None and time.monotonic() >= deadline:
                    break
        finally:
            print("\nstopping: agents flush their batches and say offline ...")
            for agent in self.agents:
                agent.request_shutdown()
            for thread in self.threads:
                if thread.name.startswith("agent-"):
                    thread.join(15)
            if self.processor is not None:
                view.wait_quiet(1.0)
                self.processor.request_shutdown()
            for thread in self.threads:
                thread.join(15)
            view.render(final=True)
            view.stop()
            if self.broker is not None:
                self.broker.stop()
        print(view.summary())
        return 0

    def clean_up(self) -> None:
        """Last of all, also after a failed start: stop our broker, delete the temporary
        directory (never a --data-dir) unless a thread still writes there."""
        if self.broker is not None:
            self.broker.stop()
        if not self.temporary or not self.work.exists():
            return
        running = [thread.name for thread in self.threads if thread.is_alive()]
        if running:
            print(f"kept {self.work}: still in use by {', '.join(running)}", file=sys.stderr)
            return
        shutil.rmtree(self.work, ignore_errors=True)

    def _thread(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _start_processor(self, mqtt, prefix: str) -> None:
        if self.args.no_processor:
            return
        try:
            from gazewire.processor.config import ProcessorSettings
            from gazewire.processor.runtime import Processor
        except ImportError:
            log.warning("the processor is not available in this installation; running agents only")
            return
        from gazewire.settings import load_settings

        overrides = {"processor_id": "demo", "data_dir": str(self.work / "processor"), "topic_prefix": prefix}
        overrides.update(DEMO_ALERTS)
        if DEMO_AOI_FILE.is_file():
            overrides["aoi_file"] = str(DEMO_AOI_FILE)
        settings = load_settings(ProcessorSettings, overrides=overrides)
        settings = settings.model_copy(update={"mqtt": mqtt.model_copy(update={"client_id": None})})
        self.processor = Processor(settings)
        self.processor_output = getattr(self.processor, "sink_description", str(self.work / "processor"))
        self._thread(self.processor.run, "processor")


def _demo(args: argparse.Namespace) -> int:
    from gazewire.logs import configure_logging

    configure_logging(args.log_level)
    if args.agents < 1 or args.agents > 16:
        print("gazewire demo: --agents must be 1 to 16", file=sys.stderr)
        return 2
    if not 60 <= args.frequency <= 1200:
        print("gazewire demo: --frequency must be 60 to 1200 Hz", file=sys.stderr)
        return 2
    if args.data_dir:
        from gazewire.errors import SettingsError
        from gazewire.settings import validate_data_dir

        try:
            validate_data_dir(Path(args.data_dir))
        except ValueError as error:
            raise SettingsError(f"--data-dir: {error}") from None
    demo = Demo(args)
    # The shared handler: no lock taken in the handler itself (the main loop waits on
    # stop_requested, whose lock a handler setting it could deadlock on).
    install_shutdown_handlers(demo.request_stop)
    try:
        return demo.run()
    finally:
        demo.clean_up()


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="local broker + simulated agents + processor, live console view")
    demo.add_argument("--agents", type=int, default=2, help="simulated trackers (default 2)")
    demo.add_argument("--frequency", type=float, default=120.0, help="their sample rate in Hz (default 120)")
    demo.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--broker", metavar="HOST[:PORT]", help="use this broker instead of starting one")
    demo.add_argument("--no-processor", action="store_true", help="run the agents only")
    demo.add_argument("--data-dir", help="where recordings and time series go, kept afterwards "
                      "(default: a temporary directory, removed when the demo stops)")
    demo.add_argument("--plain", action="store_true", help="print lines instead of a live table")
    demo.add_argument("--log-level", default="WARNING", help="log verbosity (default WARNING)")
    demo.set_defaults(handler=_demo)

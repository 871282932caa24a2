"""CPU share of ``gazewire agent run`` while the broker is unreachable or
refuses the login, against the same agent with a working broker (the baseline,
measured in the same run).

Each case is a child process (simulated tracker) whose CPU time is read from
``/proc/<pid>/stat`` over a window once it is running; "idle" cases have
``autostart = false`` (connected to nothing, streaming nothing).

    .venv/bin/python bench/agent_idle_cpu.py [--frequency 120] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.mosquitto import MosquittoBroker  # noqa: E402
from tests.support.ports import free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, port: int, work: Path, seconds: float, frequency: float, extra: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    env.update({
        "GAZEWIRE_MQTT__HOST": "127.0.0.1", "GAZEWIRE_MQTT__PORT": str(port),
        "GAZEWIRE_MQTT__RECONNECT_MIN_S": "0.5", "GAZEWIRE_MQTT__RECONNECT_MAX_S": "2",
        "GAZEWIRE_DATA_DIR": str(work / name), "GAZEWIRE_SOURCE": "simulated",
        "GAZEWIRE_FREQUENCY_HZ": str(frequency), **extra,
    })
    log = (work / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gazewire.cli", "agent", "run", "--session", name],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(3.0)  # past the start-up (imports, first connection attempt)
        before, start = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(process.pid) - before, time.monotonic() - start
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    return 100.0 * used / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frequency", type=float, default=120)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gazewire-bench-idle-"))
    broker = MosquittoBroker(work / "broker", users={"lab": "secret"})
    broker.start()
    try:
        good = {"GAZEWIRE_MQTT__USERNAME": "lab", "GAZEWIRE_MQTT__PASSWORD": "secret"}
        bad = {"GAZEWIRE_MQTT__USERNAME": "lab", "GAZEWIRE_MQTT__PASSWORD": "wrong"}
        idle = {"GAZEWIRE_AUTOSTART": "false"}
        down = free_port()
        cases = [
            ("streaming, broker working (baseline)", broker.port, good),
            ("streaming, broker down", down, {}),
            ("streaming, login refused", broker.port, bad),
            ("idle, broker working", broker.port, {**good, **idle}),
            ("idle, broker down", down, idle),
            ("idle, login refused", broker.port, {**bad, **idle}),
        ]
        print(f"simulated tracker at {args.frequency:g} Hz, {args.seconds:g} s windows, % of one core")
        baseline = None
        for index, (name, port, extra) in enumerate(cases):
            share = measure(f"case{index}", port, work, args.seconds, args.frequency, extra)
            baseline = baseline if baseline is not None else share
            print(f"  {name:<40} {share:6.2f} %   ({share / baseline:4.2f} x baseline)")
    finally:
        broker.kill()


if __name__ == "__main__":
    main()

"""How well ``Session.clock_offset()`` finds another computer's clock, over MQTT.

Starts Debian's mosquitto on free loopback ports and a simulated agent
(``gazewire agent run``, a child process), then measures the offset many
times from a client whose clock is shifted on purpose (``Lab(clock=...)``):
the true offset is minus the shift, so every measurement's error is known.
Agent and client share this machine's clock, so nothing else is unknown.

    .venv/bin/python bench/client_clock_offset.py [--measurements 200] [--probes 10]

Reported per configuration: the error of the measured offset (median, 95th
percentile, largest), the best probe's round trip, the bound (half of it),
and whether every error stayed within its bound.

Configurations:

* loopback, 1 probe and ``--probes`` probes (the clock filter's gain);
* loopback with the agent at 1200 Hz (a busy agent);
* a simulated LAN: a relay between the client and the broker that delays
  each direction (``--lan-there-ms``, ``--lan-back-ms``, plus up to
  ``--lan-jitter-ms`` of random jitter per packet) the way a switched network,
  Wi-Fi or a busy switch port would. An asymmetry between the two ways is
  what the NTP method cannot see: it shows up as error, at most half the
  round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gazewire.client import Lab  # noqa: E402
from tests.conftest import AgentProcess, agent_env  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

SHIFT_NS = 250_000_000  # the client's clock runs 250 ms ahead of the agent's


class DelayRelay:
    """A TCP relay on loopback that delays each direction: a network between client and broker."""

    def __init__(self, target_port: int, *, there_ms: float, back_ms: float, jitter_ms: float) -> None:
        self.target_port = target_port
        self.there_s, self.back_s, self.jitter_s = there_ms / 1000, back_ms / 1000, jitter_ms / 1000
        self.port = free_port()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, name="delay-relay", daemon=True).start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_reader, client_writer) -> None:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pump(client_reader, broker_writer, self.there_s),
                             self._pump(broker_reader, client_writer, self.back_s), return_exceptions=True)

    async def _pump(self, reader, writer, delay_s: float) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            last_due = 0.0
            while True:
                due, data = await queue.get()
                due = max(due, last_due)  # a network keeps the order of one connection's bytes
                last_due = due
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if data is None:
                    writer.close()
                    return
                writer.write(data)

        sender = asyncio.ensure_future(deliver())
        while True:
            data = await reader.read(65536)
            due = time.monotonic() + delay_s + random.uniform(0, self.jitter_s)
            await queue.put((due, data or None))
            if not data:
                break
        await sender


def measure(port: int, session: str, *, measurements: int, probes: int) -> dict[str, float]:
    clock: Callable[[], int] = lambda: time.time_ns() + SHIFT_NS  # noqa: E731
    errors_us, round_trips_us, within = [], [], 0
    with Lab("127.0.0.1", port, clock=clock, timeout=10) as lab:
        room = lab.session(session)
        room.wait_for("tracking", timeout=30)
        room.clock_offset(probes=probes)  # warm up: the reply subscription, the first connection
        for _ in range(measurements):
            offset = room.clock_offset(probes=probes)
            error_ns = offset.offset_ns + SHIFT_NS
            errors_us.append(abs(error_ns) / 1000)
            round_trips_us.append(offset.round_trip_ns / 1000)
            within += abs(error_ns) <= offset.uncertainty_ns
    errors_us.sort()
    return {
        "error_median_us": statistics.median(errors_us),
        "error_p95_us": errors_us[int(0.95 * (len(errors_us) - 1))],
        "error_max_us": errors_us[-1],
        "round_trip_median_us": statistics.median(round_trips_us),
        "bound_median_us": statistics.median(round_trips_us) / 2,
        "within_bound": within / measurements,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measurements", type=int, default=200)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--lan-there-ms", type=float, default=0.6, help="client -> broker delay of the simulated LAN")
    parser.add_argument("--lan-back-ms", type=float, default=0.2, help="broker -> client delay of the simulated LAN")
    parser.add_argument("--lan-jitter-ms", type=float, default=0.3, help="random extra delay per packet, up to")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gazewire-bench-clock-"))
    broker = MosquittoBroker(work / "mosquitto")
    broker.start()
    agents: list[AgentProcess] = []
    try:
        results: list[tuple[str, dict[str, float]]] = []
        agents.append(AgentProcess(agent_env(broker, work / "agent-120"), "--session", "bench-120",
                                   log_path=work / "agent-120.log"))
        agents.append(AgentProcess(agent_env(broker, work / "agent-1200"), "--session", "bench-1200",
                                   "--frequency", "1200", log_path=work / "agent-1200.log"))
        n = args.measurements
        results.append(("loopback, 1 probe", measure(broker.port, "bench-120", measurements=n, probes=1)))
        results.append((f"loopback, {args.probes} probes",
                        measure(broker.port, "bench-120", measurements=n, probes=args.probes)))
        results.append((f"loopback, {args.probes} probes, agent at 1200 Hz",
                        measure(broker.port, "bench-1200", measurements=n, probes=args.probes)))
        relay = DelayRelay(broker.port, there_ms=args.lan_there_ms, back_ms=args.lan_back_ms,
                           jitter_ms=args.lan_jitter_ms)
        results.append((f"simulated LAN {args.lan_there_ms:g}/{args.lan_back_ms:g} ms (+{args.lan_jitter_ms:g} "
                        f"jitter), {args.probes} probes",
                        measure(relay.port, "bench-120", measurements=max(20, n // 4), probes=args.probes)))
        width = max(len(name) for name, _ in results)
        print(f"{'configuration':<{width}}  error median / p95 / max (µs)   round trip (µs)  bound (µs)  within bound")
        for name, r in results:
            print(f"{name:<{width}}  {r['error_median_us']:7.1f} / {r['error_p95_us']:6.1f} / {r['error_max_us']:6.1f}"
                  f"   {r['round_trip_median_us']:14.1f}  {r['bound_median_us']:10.1f}  {r['within_bound']:.0%}")
        base = results[1][1]["error_p95_us"]
        print(f"\n1 probe vs {args.probes}: p95 error x{results[0][1]['error_p95_us'] / base:.1f}; "
              f"simulated LAN vs loopback: p95 error x{results[3][1]['error_p95_us'] / base:.1f}")
    finally:
        for agent in agents:
            agent.terminate()
        broker.stop()


if __name__ == "__main__":
    main()

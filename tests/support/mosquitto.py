"""A real Mosquitto broker for tests, on free loopback ports.

Started from Debian's ``mosquitto`` package (apt-get install mosquitto, done
by .ci/run and scripts/test.sh). Persistence is on, so a stop and start keeps
retained messages and persistent sessions, as a lab broker would.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port, wait_for_port

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    for candidate in MOSQUITTO_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def others_can_enter(path: Path) -> bool:
    """Whether a user other than the owner can reach ``path`` (every directory on the way is o+x)."""
    path = path.resolve()
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in (path, *path.parents))


def directory_for_the_broker_user(prefix: str) -> Path:
    """A new directory (0755) that Mosquitto's own user can enter, for a broker that drops root.

    Run as root, Mosquitto switches to user ``mosquitto`` before it reads its
    files; a checkout under /root or pytest's (0700) tmp tree is closed to that
    user, so everything it reads or writes goes into this directory instead.
    """
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if Path(base).is_dir() and others_can_enter(Path(base)):
            directory = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
            directory.chmod(0o755)
            return directory
    raise RuntimeError("no temporary directory that the mosquitto user can enter (TMPDIR, /tmp, /var/tmp)")


@dataclass
class MosquittoBroker:
    directory: Path
    port: int = field(default_factory=free_port)
    websocket_port: int | None = None
    users: dict[str, str] | None = None  # name -> password; None: anonymous allowed
    acl: str | None = None  # ACL file text
    http_dir: Path | None = None
    process: subprocess.Popen | None = None
    binary: str = field(default_factory=lambda: find_mosquitto() or "mosquitto")

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            "per_listener_settings false",
            # As root, Mosquitto would switch to its own user, which cannot enter pytest's
            # root-only tmp_path; this throw-away test broker may as well stay root.
            *(["user root"] if os.geteuid() == 0 else []),
            "set_tcp_nodelay true",  # no Nagle delay (~40 ms) on forwarded messages
            "persistence true",
            f"persistence_location {self.directory}/",
            "autosave_interval 1800",  # Mosquitto saves on a clean stop anyway; frequent snapshots stall it
            f"log_dest file {self.log_path}",
            "log_type all",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            f"listener {self.port} 127.0.0.1",
            "protocol mqtt",
        ]
        if self.websocket_port is not None:
            lines += [f"listener {self.websocket_port} 127.0.0.1", "protocol websockets"]
            if self.http_dir is not None:
                lines.append(f"http_dir {self.http_dir}")
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            password_file = self.directory / "passwords"
            password_file.write_text("")
            for name, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), name, password],
                    check=True, capture_output=True,
                )
            password_file.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        if self.acl is not None:
            acl_file = self.directory / "acl"
            acl_file.write_text(self.acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        config = self._write_config()
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_for_port(self.port, process=self.process)
        if self.websocket_port is not None:
            wait_for_port(self.websocket_port, process=self.process)

    def stop(self) -> None:
        """Clean stop (SIGTERM): Mosquitto saves its persistence database."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

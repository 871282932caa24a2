"""``gazewire api run``: the API under uvicorn, until SIGTERM or Ctrl-C.

The listening socket is bound here, before uvicorn starts, so a port in use is
one clear line (exit 1), and the tokens are loaded first, so missing or bad
tokens are a settings error (exit 2) before anything listens.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from gazewire.errors import GazewireError

log = logging.getLogger("gazewire.api")


class ApiServer:
    """The API on ``api.listen``:``api.port``; ``run()`` until ``request_shutdown()``."""

    def __init__(self, settings: Any) -> None:  # settings: ApiSettings
        import uvicorn

        from gazewire.api.app import create_app
        from gazewire.api.tokens import Role

        self.settings = settings
        self.app = create_app(settings)
        tokens = self.app.state.tokens
        self._summary = (f"{tokens.count(Role.VIEWER)} viewer and {tokens.count(Role.OPERATOR)} operator token(s); "
                         f"journal {settings.journal_path}")
        self.config = uvicorn.Config(
            self.app, log_config=None, access_log=True, server_header=False, lifespan="on",
            timeout_graceful_shutdown=10,
        )
        self.server = uvicorn.Server(self.config)

    def bind(self) -> socket.socket:
        server = self.settings.api
        family = socket.AF_INET6 if ":" in server.listen else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((server.listen, server.port))
        except OSError as error:
            sock.close()
            raise GazewireError(f"cannot listen on {server.listen}:{server.port}: {error.strerror}") from None
        sock.set_inheritable(True)
        return sock

    def run(self) -> None:
        sock = self.bind()
        host, port = sock.getsockname()[:2]
        where = f"[{host}]" if ":" in host else host
        log.info("gazewire API on http://%s:%d/api/docs (%s)", where, port, self._summary)
        try:
            self.server.run(sockets=[sock])
        finally:
            sock.close()
        log.info("gazewire API stopped")

    def request_shutdown(self) -> None:
        self.server.should_exit = True

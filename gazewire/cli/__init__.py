"""The command line, the top floor: it imports the agent, the processor and the
wire contract; nothing below it imports it.

``main`` is imported lazily so that ``python -m gazewire.cli.users`` runs on a
lab server that has only Python and the checkout (no pydantic, no paho).
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gazewire`` command (see :mod:`gazewire.cli.main`)."""
    from gazewire.cli.main import main as run

    return run(argv)

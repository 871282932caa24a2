"""The command line, the top floor: it imports the agent, the processor, the
client and the wire contract; nothing below it imports it.

:func:`main` is the ``gazewire`` command (:mod:`gazewire.cli.main`). Importing
it is cheap (the commands load their modules when the parser is built), so
``python -m gazewire.cli.users`` runs on a lab server that has only Python
and the checkout (no pydantic, no paho).

``main`` is bound here once, at import: the function shadows the submodule of
the same name for good (a later ``import gazewire.cli.main`` does not rebind
the package attribute), so ``from gazewire.cli import main`` is always the
function.
"""

from gazewire.cli.main import main

__all__ = ["main"]

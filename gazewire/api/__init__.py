"""The lab server's HTTP API: the journal's recordings and their data, and
recordings started, stopped and annotated through the agents' command topic.

``gazewire api run`` serves it (uvicorn); docs/data.md ("HTTP API") tells how to
use it. FastAPI and uvicorn come with the ``api`` extra
(``pip install '.[api]'`` in a clone): the lab server's image has them, tracker PCs
do not need them.

Layout: :mod:`.settings` (``gazewire api config``), :mod:`.tokens` (who may do
what), :mod:`.auth` (the token check), :mod:`.params` (times and formats in
queries), :mod:`.formats` (tables as CSV, Parquet, NDJSON, Arrow, a chunk at a
time), :mod:`.downloads` (the archive, streamed), :mod:`.commands` (the agents'
commands, through :mod:`gazewire.client`), :mod:`.routes` (the endpoints),
:mod:`.errors` (one status and one line per error), :mod:`.app`
(:func:`~gazewire.api.app.create_app`), :mod:`.server` (uvicorn).
"""

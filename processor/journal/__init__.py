"""The processor's journal: every accepted batch, status, marker and everything the
processor derived from them, on disk and durable before the broker gets its PUBACK.

It is the custody point of the lab server (the agent may forget a batch once the
journal holds it), the source the sinks (InfluxDB, line-protocol files) catch up
from, and the lab's lossless archive that export reads. See docs/processor.md
("The journal") and docs/reliability.md.

:mod:`.records` is pure (what a record is, its encoding, custody ranges);
:mod:`.store` is the SQLite file; :mod:`.feed` runs one sink from it.
"""

from gazewire.processor.journal.records import JournalError, Record, RecordKind
from gazewire.processor.journal.store import Journal, JournalFull, JournalUnwritable

__all__ = ["Journal", "JournalError", "JournalFull", "JournalUnwritable", "Record", "RecordKind"]

"""The processor's pure core, between where a message enters
(:mod:`gazewire.processor.inputs`) and where results leave
(:mod:`gazewire.processor.outputs`): dispatch to sessions, batch numbering,
time bases, eye-movement detection, AOI visits and alerts. No broker, no
database, no wall clock: the caller passes the time."""

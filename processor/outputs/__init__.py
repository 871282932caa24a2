"""Where results leave the processor: published messages (:mod:`.publisher`) and
stored points (:mod:`.points` builds them from an outcome; :mod:`.influx` and
:mod:`.files` write them)."""

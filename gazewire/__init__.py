"""gazewire: Tobii Pro eye trackers on the lab network.

The ``gazewire`` package holds what both sides of the wire share: session ids,
topic names, the JSON message models and the command line.
"""

__version__ = "0.1.0"

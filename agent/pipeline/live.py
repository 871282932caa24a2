"""Build the ``gaze`` (live view) payload from one combined sample.

Plain JSON built here, checked against :class:`gazewire.wire.messages.LiveGaze` by
the tests; ``samples`` is how many samples the live message stands for.
"""

from __future__ import annotations

import json

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze
from gazewire.wire.messages import PROTOCOL_VERSION
from gazewire.wire.timeutil import iso_from_utc_us


def live_gaze_payload(
    *,
    session: str,
    device: str,
    live_seq: int,
    sample_seq: int,
    utc_us: int,
    sample: GazeDict,
    gaze: CombinedGaze,
    samples: int,
    recording: str | None = None,
) -> bytes:
    message = {
        "v": PROTOCOL_VERSION,
        "session": session,
        "device": device,
        "seq": live_seq,
        "sample_seq": sample_seq,
        "utc": iso_from_utc_us(utc_us),
        "utc_us": utc_us,
        "device_time_us": int(sample["device_time_stamp"]),
        "system_time_us": int(sample["system_time_stamp"]),
        "x": gaze.x,
        "y": gaze.y,
        "eye": gaze.eye,
        "left_pupil": gaze.left_pupil,
        "right_pupil": gaze.right_pupil,
        "pupil": gaze.pupil,
        "samples": samples,
        "recording": recording,
    }
    return json.dumps(message, allow_nan=False).encode()

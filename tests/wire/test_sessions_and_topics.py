import pytest

from gazewire.errors import InvalidSessionId, InvalidTopic
from gazewire.wire.sessions import validate_session_id
from gazewire.wire.topics import Channel, StatusTopic, Topics, validate_prefix


@pytest.mark.parametrize("session", ["a", "P01", "room-1_run.2", "x" * 64, "..a", "-"])
def test_valid_session_ids_pass(session):
    assert validate_session_id(session) == session


@pytest.mark.parametrize(
    "session, fragment",
    [
        ("", "empty"),
        ("x" * 65, "65 characters"),
        ("a/b", "'/'"),
        ("a+b", "'+'"),
        ("a#", "'#'"),
        ("$SYS", "'$'"),
        ("a\x00b", "'\\x00'"),
        ("a b", "' '"),
        ("é", "'é'"),
        (".", "reserved"),
        ("..", "reserved"),
        (None, "string"),
    ],
)
def test_invalid_session_ids_are_refused_with_the_reason(session, fragment):
    with pytest.raises(InvalidSessionId) as caught:
        validate_session_id(session)
    assert fragment in str(caught.value)


def test_topics_build_and_parse_round_trip():
    topics = Topics("lab")
    for channel in Channel:
        topic = topics.for_session("P01", channel)
        assert topics.parse(topic) == ("P01", channel)
    assert topics.gaze("P01") == "lab/P01/gaze"
    assert topics.gaze_batch("P01") == "lab/P01/gaze/batch"
    assert topics.every_session(Channel.GAZE_BATCH) == "lab/+/gaze/batch"
    assert topics.processor_status("main") == "lab/_sys/processor/main/status"


def test_multi_level_prefix():
    topics = Topics("lab/room-2")
    assert topics.status("s") == "lab/room-2/s/status"
    assert topics.parse("lab/room-2/s/cmd/reply") == ("s", Channel.CMD_REPLY)


@pytest.mark.parametrize(
    "topic", ["other/s/gaze", "lab/s", "lab/a+b/gaze", "lab/s/unknown", "lab/_sys/processor/x/status", "lab//gaze"]
)
def test_parse_refuses_foreign_topics(topic):
    with pytest.raises(InvalidTopic):
        Topics("lab").parse(topic)


def test_status_topics_say_whose_status_they_carry():
    for topics in (Topics("lab"), Topics("lab/room-2")):
        assert topics.parse_processor_status(topics.processor_status("main")) == "main"
        assert topics.parse_status(topics.processor_status("main")) == StatusTopic("processor", "main")
        assert topics.parse_status(topics.status("P01")) == StatusTopic("agent", "P01")


@pytest.mark.parametrize(
    "topic",
    ["lab/P01/gaze", "lab/_sys/status", "lab/_sys/processor/status", "lab/_sys/processor/a+b/status",
     "lab/_sys/processor/main/status/x", "lab/_sys/other/main/status", "other/_sys/processor/main/status",
     "other/P01/status", "lab/a b/status"],
)
def test_parse_status_refuses_every_other_topic(topic):
    with pytest.raises(InvalidTopic):
        Topics("lab").parse_status(topic)


@pytest.mark.parametrize("prefix", ["", "$lab", "lab/", "/lab", "la+b", "lab/#", "a//b"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(InvalidTopic):
        validate_prefix(prefix)


def test_system_level_is_not_a_session():
    with pytest.raises(InvalidSessionId):
        Topics().gaze("_sys")

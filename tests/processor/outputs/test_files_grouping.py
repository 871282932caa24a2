"""The line-protocol files sink groups a slice's lines by session and UTC day in order, whatever
the slice mixes: one session, several, a slice across midnight, points without a session."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gazewire.processor.outputs.files import LineProtocolFiles, file_for

MIDNIGHT_US = 1_700_006_400_000_000  # 2023-11-15 00:00 UTC

entries = st.lists(
    st.tuples(
        st.text(alphabet="abc", min_size=1, max_size=3),
        st.sampled_from(["s1", "s2", "P-07", None]),
        st.integers(min_value=MIDNIGHT_US - 5_000, max_value=MIDNIGHT_US + 5_000),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(entries)
def test_lines_grouped_by_session_and_day_in_order(tmp_path_factory, slice_):
    directory = tmp_path_factory.mktemp("lp")
    expected: dict = {}
    for line, session, time_us in slice_:
        expected.setdefault(file_for(directory, session, time_us), []).append(line)
    sink = LineProtocolFiles(directory)
    grouped = sink._by_file(slice_)
    assert grouped == expected
    assert sink._by_file(slice_) is grouped  # the intent's grouping, reused by the write

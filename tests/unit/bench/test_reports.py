"""The generated reports: each claims content keys no other report of any stream has (no accidental linking)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.reports import ReportStream
from services.intake.content import content_keys

tags = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@settings(max_examples=50, deadline=None)
@given(tags, tags, st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=40))
def test_streams_of_different_tags_share_no_content_key(a: str, b: str, n: int, m: int) -> None:
    first = [k for r in ReportStream(tag=a).take(n) for k in content_keys(r)]
    assert len(first) == 2 * n == len(set(first))  # a hash and a URL each, none repeated within the stream
    if a != b:
        second = {k for r in ReportStream(tag=b).take(m) for k in content_keys(r)}
        assert not set(first) & second

"""Hypothesis strategy of a parent's span context: valid or invalid ids, remote or local, every flag, trace states."""

from __future__ import annotations

from hypothesis import strategies as st
from opentelemetry.trace import SpanContext, TraceFlags, TraceState

SPAN_CONTEXTS = st.builds(
    SpanContext,
    st.one_of(st.just(0), st.integers(1, 2**128 - 1)),  # trace id: 0 is invalid
    st.one_of(st.just(0), st.integers(1, 2**64 - 1)),  # span id: 0 is invalid
    st.booleans(),  # remote
    st.builds(TraceFlags, st.integers(0, 255)),
    st.one_of(st.none(), st.just(TraceState([("v", "1")])), st.just(TraceState([("a", "b"), ("c", "d")]))),
)

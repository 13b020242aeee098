"""Helpers to assert on recorded span trees."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

Tree = tuple[str, list["Tree"]]


def trees(spans: Sequence[ReadableSpan]) -> list[Tree]:
    """The span forest as nested ``(name, children)``, siblings in start order.

    Raises if a span's parent is missing from ``spans`` but in the same trace (a broken tree).
    """
    by_id = {s.context.span_id: s for s in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        if parent is not None and parent not in by_id:
            raise AssertionError(f"{span.name} has a parent that was not recorded")
        children.setdefault(parent, []).append(span)

    def build(span: ReadableSpan) -> Tree:
        kids = sorted(children.get(span.context.span_id, []), key=lambda s: s.start_time or 0)
        return (span.name, [build(k) for k in kids])

    roots = sorted(children.get(None, []), key=lambda s: s.start_time or 0)
    for root in roots:
        trace_ids = {s.context.trace_id for s in _descendants(root, children)}
        assert trace_ids == {root.context.trace_id}, "a tree spans several traces"
    return [build(r) for r in roots]


def _descendants(span: ReadableSpan, children: dict[Any, list[ReadableSpan]]) -> list[Any]:
    out = [span]
    for kid in children.get(span.context.span_id, []):
        out.extend(_descendants(kid, children))
    return out


def by_name(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    matches = [s for s in spans if s.name == name]
    assert len(matches) == 1, f"{len(matches)} spans named {name!r}: {[s.name for s in spans]}"
    return matches[0]


def attr_json(span: ReadableSpan, key: str) -> Any:
    assert span.attributes is not None
    return json.loads(str(span.attributes[key]))

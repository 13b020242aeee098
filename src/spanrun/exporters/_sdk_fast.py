"""Every OTel SDK private field the exporter reads, with the public API as the fallback.

``ReadableSpan``'s properties are a Python call each (``attributes`` also wraps the span's dict
in a read-only proxy per access, ``events`` copies the event list), and the exporter reads about
ten of them per span, thousands of spans per batch. For the SDK's own finished spans the fields
behind them are read directly, here and nowhere else. A span whose private fields are missing or
have another shape (another SDK release, a ``ReadableSpan`` subclass, a span-like object) takes
the public API, which gives the same values (``tests/exporters/test_sdk_fast.py`` checks both
paths against each other; ``scripts/otel_compat.sh`` runs the exporter tests on the oldest
supported SDK).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

__all__ = [
    "SpanFields",
    "attributes_dict",
    "read_span",
    "read_span_public",
    "read_status",
    "span_attributes",
]

#: What :func:`read_span` returns: context, parent, name, kind, start_time, end_time,
#: status_code, status_description, resource, events, attributes (a dict to be read only).
SpanFields = tuple[
    SpanContext,
    SpanContext | None,
    str,
    SpanKind,
    int | None,
    int | None,
    StatusCode,
    str | None,
    Resource | None,
    Sequence[Event],
    dict[str, Any],
]


def read_span(span: ReadableSpan) -> SpanFields:
    """The fields of a finished span that the exporter reads, in one call.

    ``attributes`` is the span's own dict for SDK spans (not a copy: a finished span's
    attributes no longer change); sequences in it may be tuples. ``events`` is ``()`` when
    there are none.
    """
    if type(span) is ReadableSpan:
        try:
            status = span._status
            attributes: Any = span._attributes  # BoundedAttributes, or a dict given by hand
            if type(attributes) is not dict:
                attributes = attributes._dict
            if type(status) is Status and type(attributes) is dict:
                events = span._events
                return (  # type: ignore[return-value]  # _context: None only before start
                    span._context,
                    span._parent,
                    span._name,
                    span._kind,
                    span._start_time,
                    span._end_time,
                    status._status_code,
                    status._description,
                    span._resource,
                    events if events else (),
                    attributes,
                )
        except AttributeError:
            pass  # another shape: the public API below
    return read_span_public(span)


def read_span_public(span: ReadableSpan) -> SpanFields:
    """:func:`read_span` through ``ReadableSpan``'s public properties only."""
    status = span.status
    events = span.events
    return (
        span.context,
        span.parent,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        status.status_code,
        status.description,
        span.resource,
        events if events else (),
        attributes_dict(span.attributes),
    )


def read_status(status: Status) -> tuple[StatusCode, str | None]:
    """A status's code and description (its properties are a Python call each)."""
    if type(status) is Status:
        try:
            return status._status_code, status._description
        except AttributeError:
            pass
    return status.status_code, status.description


def attributes_dict(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain dict of OTel attributes, to be read only: the SDK's ``BoundedAttributes`` own
    dict when it has one (iterating it as a Mapping takes a lock per item), else a copy."""
    if not attributes:
        return {}
    raw = getattr(attributes, "_dict", None)
    if type(raw) is dict:
        return raw
    return dict(attributes.items())


def span_attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a plain dict, to be read only (sequences may be tuples)."""
    try:
        # ReadableSpan.attributes wraps its BoundedAttributes in a read-only proxy per access.
        raw = span._attributes._dict  # type: ignore[union-attr]
    except AttributeError:
        raw = None
    if type(raw) is dict:
        return raw
    return attributes_dict(span.attributes)

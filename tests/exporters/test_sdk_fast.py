"""The SDK private-field fast path reads what the public API reads (``_sdk_fast``)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanrun.exporters._convert import plain_attributes, span_to_record
from spanrun.exporters._sdk_fast import (
    attributes_dict,
    read_span,
    read_span_public,
    read_status,
    span_attributes,
)

from ._genai_spans import semconv_attrs


def _spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root", attributes={"input.value": "q"}) as root:
        root.set_attribute("k", (1, 2))
        with tracer.start_as_current_span(
            "chat", kind=SpanKind.CLIENT, attributes=semconv_attrs()
        ) as child:
            child.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "hi"}, timestamp=5)
            child.set_status(Status(StatusCode.ERROR, "boom"))
        tracer.start_span("empty").end()
    return list(memory.get_finished_spans())


def _comparable(fields: tuple[Any, ...]) -> tuple[Any, ...]:
    *head, events, attributes = fields
    return (*head, tuple(events), dict(attributes))


def test_the_sdks_spans_take_the_fast_path_and_read_the_same_fields() -> None:
    spans = _spans()
    assert [type(s) for s in spans] == [ReadableSpan] * 3
    for span in spans:
        fast = read_span(span)
        assert fast[10] is span._attributes._dict  # type: ignore[union-attr]  # no copy
        assert _comparable(fast) == _comparable(read_span_public(span))
        assert span_attributes(span) == dict(span.attributes or {})
        assert read_status(span.status) == (span.status.status_code, span.status.description)
    child = spans[0]
    assert read_span(child)[6:8] == (StatusCode.ERROR, "boom")
    assert [e.name for e in read_span(child)[9]] == ["gen_ai.content.prompt"]
    assert read_span(spans[1])[9] == ()  # no events: no copy


class _MyStatus(Status):
    pass


class _OtherShape(ReadableSpan):
    """A ReadableSpan subclass whose fields are not the SDK's."""

    @property
    def attributes(self) -> Any:
        return {"from": "property"}


def _as_readable(span: ReadableSpan, **changes: Any) -> ReadableSpan:
    kwargs: dict[str, Any] = {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "resource": span.resource,
        "attributes": dict(span.attributes or {}),
        "events": span.events,
        "kind": span.kind,
        "status": span.status,
        "start_time": span.start_time,
        "end_time": span.end_time,
    }
    kwargs.update(changes)
    return ReadableSpan(**kwargs)


def test_other_shapes_fall_back_to_the_public_api_with_the_same_result() -> None:
    child = _spans()[0]
    expected = _comparable(read_span_public(child))
    # attributes given as a plain dict (no BoundedAttributes)
    by_hand = _as_readable(child)
    assert _comparable(read_span(by_hand)) == expected
    # a status of another type: the public properties are read
    other_status = _as_readable(child, status=_MyStatus(StatusCode.ERROR, "boom"))
    assert _comparable(read_span(other_status)) == expected
    assert read_status(other_status.status) == (StatusCode.ERROR, "boom")
    # a subclass: never the fast path
    other = _OtherShape(name="x", context=child.context, attributes={"a": 1})
    assert read_span(other)[10] == {"from": "property"}


def test_records_are_the_same_on_both_paths() -> None:
    for span in _spans():
        record = span_to_record(span, "run", "0")
        assert record == span_to_record(_as_readable(span), "run", "0")


def test_attribute_mappings_read_without_a_copy_only_when_the_sdk_made_them() -> None:
    bounded = BoundedAttributes(attributes={"a": (1, 2), "b": "x"})
    assert attributes_dict(bounded) is bounded._dict
    proxy = MappingProxyType({"a": (1, 2), "b": "x"})
    assert attributes_dict(proxy) == {"a": (1, 2), "b": "x"}
    assert attributes_dict(None) == {} == attributes_dict({})
    assert plain_attributes(bounded) == plain_attributes(proxy) == {"a": [1, 2], "b": "x"}

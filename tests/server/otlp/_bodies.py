"""Hand-built OTLP request bodies: OTLP/JSON dicts and their protobuf twins."""

from __future__ import annotations

import json
import time
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def llm_span_json(
    trace_id: str,
    span_id: str,
    *,
    question: str = "hi",
    input_tokens: Any = "12",
    output_tokens: Any = 7,
    parent_span_id: str = "",
    end_ns: int | None = None,
) -> dict[str, Any]:
    """One OTLP/JSON chat span: hex ids, int64 as strings or numbers, enums as integers."""
    end = end_ns if end_ns is not None else time.time_ns()
    messages = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "ok: " + question}]}]
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent_span_id,
        "name": "chat gpt-4o-mini",
        "kind": 3,  # SPAN_KIND_CLIENT
        "startTimeUnixNano": str(end - 250_000_000),
        "endTimeUnixNano": end,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.2}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": input_tokens}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": output_tokens}},
            {"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(messages)}},
            {"key": "gen_ai.output.messages", "value": {"stringValue": json.dumps(answer)}},
            {
                "key": "gen_ai.response.finish_reasons",
                "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
            },
        ],
        "status": {"code": 1},
    }


def request_json(*spans: dict[str, Any], service: str = "json-app") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [
                    {"scope": {"name": "hand-built", "version": "1"}, "spans": list(spans)}
                ],
            }
        ]
    }


def as_protobuf(body: dict[str, Any]) -> bytes:
    """The same request as protobuf (ids from hex, as OTLP/JSON spells them)."""
    import base64

    copy = json.loads(json.dumps(body))
    for rs in copy["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = base64.b64encode(bytes.fromhex(span.get(key, ""))).decode()
    message = json_format.ParseDict(copy, ExportTraceServiceRequest())
    return message.SerializeToString()

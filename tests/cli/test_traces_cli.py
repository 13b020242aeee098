from __future__ import annotations

import json

from spanrun.core.entities import SpanRecord

from .conftest import Cli


def _log_trace(cli: Cli, run_id: str) -> None:
    start = 1_700_000_000_000_000_000
    cli.client.store.log_spans(
        [
            SpanRecord(
                trace_id="a" * 32,
                span_id="1" * 16,
                parent_span_id=None,
                name="chain answer",
                kind="INTERNAL",
                start_time_ns=start,
                end_time_ns=start + 40_000_000,
                run_id=run_id,
                experiment_id="0",
            ),
            SpanRecord(
                trace_id="a" * 32,
                span_id="2" * 16,
                parent_span_id="1" * 16,
                name="chat gpt-4o-mini",
                kind="CLIENT",
                start_time_ns=start + 5_000_000,
                end_time_ns=start + 30_000_000,
                status_code="ERROR",
                attributes={
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.input.messages": '[{"role": "user", "parts": '
                    '[{"type": "text", "content": "line one\\nline two"}]}]',
                },
                run_id=run_id,
                experiment_id="0",
            ),
        ]
    )


def test_traces_list_and_show(cli: Cli) -> None:
    run_id = cli.client.create_run("0", run_name="r").info.run_id
    _log_trace(cli, run_id)

    rows = cli.ok("traces", "list", "--run-id", run_id).splitlines()
    assert rows[0].split()[:3] == ["Trace", "ID", "Name"]
    assert rows[2].startswith("a" * 32) and "chain answer" in rows[2] and "ERROR" in rows[2]

    listed = json.loads(cli.ok("traces", "list", "--json"))
    assert [t["trace_id"] for t in listed] == ["a" * 32]
    assert listed[0]["span_count"] == 2 and listed[0]["run_id"] == run_id

    tree = cli.ok("traces", "show", "a" * 32).splitlines()
    assert tree[0] == f"Trace {'a' * 32}  run {run_id}  status ERROR"
    assert tree[1] == "- chain answer  [40.0 ms]"
    assert tree[2] == "  - chat gpt-4o-mini  [25.0 ms] ERROR"
    assert "      gen_ai.usage.input_tokens = 12" in tree
    # Content is shown on one line, whatever newlines the prompt held.
    content = [line for line in tree if "gen_ai.input.messages" in line]
    assert len(content) == 1 and "line one\\nline two" in content[0]

    no_content = cli.ok("traces", "show", "a" * 32, "--no-content")
    assert "gen_ai.input.messages" not in no_content

    shown = json.loads(cli.ok("traces", "show", "a" * 32, "--json"))
    assert [s["name"] for s in shown["spans"]] == ["chain answer", "chat gpt-4o-mini"]


def test_traces_show_unknown_id_is_a_one_line_error(cli: Cli) -> None:
    result = cli("traces", "show", "f" * 32)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "Traceback" not in result.output

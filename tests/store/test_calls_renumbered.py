"""Two writers counting LLM calls for one run (two server workers, two processes): the store
numbers a batch's calls after the calls stored meanwhile and rebases its running totals."""

from __future__ import annotations

from spanrun.core.entities import RunTag
from spanrun.store import SqlAlchemyStore


def _calls(first_step: int, count: int, tokens: float, cost: float | None) -> list[tuple]:
    """Call rows as one exporter numbers them: it knows of ``first_step`` calls before."""
    rows = []
    for n in range(count):
        step = first_step + n
        done = step + 1
        # input, output, total, latency, ttft, cost, calls, cum in, cum out, cum all, cum cost
        rows.append(
            (step, 1000 + step, tokens, 1.0, tokens + 1, 5.0, None, cost,
             done, tokens * done, 1.0 * done, (tokens + 1) * done,
             None if cost is None else cost * done)
        )  # fmt: skip
    return rows


def test_calls_of_two_writers_make_one_sequence(store: SqlAlchemyStore) -> None:
    run = store.create_run("0", "u", 0, [RunTag("k", "v")], "shared")
    run_id = run.info.run_id
    # Both writers saw the run empty; each numbers its calls from 0.
    store.log_export_batch({run_id: ([], {}, {}, _calls(0, 3, 10.0, 0.5))})
    store.log_export_batch({run_id: ([], {}, {}, _calls(0, 2, 10.0, 0.5))})
    # The first writer goes on from what it counted (3).
    store.log_export_batch({run_id: ([], {}, {}, _calls(3, 1, 10.0, 0.5))})
    history = sorted((m.step, m.value) for m in store.get_metric_history(run_id, "llm.calls"))
    assert history == [(i, i + 1.0) for i in range(6)]
    cumulative = sorted(
        (m.step, m.value) for m in store.get_metric_history(run_id, "llm.cumulative_input_tokens")
    )
    assert cumulative == [(i, 10.0 * (i + 1)) for i in range(6)]
    latest = store.get_run(run_id).data.metrics
    assert latest["llm.calls"] == 6
    assert latest["llm.cumulative_cost_usd"] == 3.0
    assert latest["llm.cumulative_tokens"] == 66.0  # 11 tokens per call
    assert len(store.get_metric_history(run_id, "llm.input_tokens")) == 6


def test_one_writer_is_not_renumbered(store: SqlAlchemyStore) -> None:
    run_id = store.create_run("0", "u", 0, [], "alone").info.run_id
    store.log_export_batch({run_id: ([], {}, {}, _calls(0, 2, 3.0, None))})
    store.log_export_batch({run_id: ([], {}, {}, _calls(2, 2, 3.0, None))})
    history = [(m.step, m.value) for m in store.get_metric_history(run_id, "llm.calls")]
    assert history == [(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0)]
    assert "llm.cumulative_cost_usd" not in store.get_run(run_id).data.metrics

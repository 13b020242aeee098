"""Issue 10: no LLM call lost to an odd response, a forked worker or a vanished store."""

from __future__ import annotations

import math
import sqlite3
import threading

import spanrun

from ._helpers import chat, predictions, steps


def test_an_infinite_token_count_costs_only_its_own_value(autolog, client, store):
    """A usage block saying ``"prompt_tokens": 1e999`` (inf in the client) used to drop the
    whole export batch: 0 of 40 healthy calls from other threads and runs were kept."""
    autolog.autolog()
    bad = client.with_options(default_headers={"x-spanrun-fake": "prompt_tokens=1e999"})
    # Every run stays open until all 41 calls are made: end_run flushes, and the point is
    # one export batch holding the odd call among the healthy ones.
    all_called = threading.Barrier(5)

    def worker(n: int) -> None:
        with spanrun.start_run(run_name=f"healthy {n}"):
            for i in range(10):
                chat(client, f"q{n}.{i}")
            all_called.wait(30)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    with spanrun.start_run() as odd_run:
        reply = bad.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "odd"}]
        )
        for t in threads:
            t.start()
        all_called.wait(30)
    for t in threads:
        t.join()
    assert math.isinf(reply.usage.prompt_tokens)  # what the client really got
    autolog.flush()

    healthy = spanrun.search_runs(
        filter_string="attributes.run_name LIKE 'healthy%'", output_format="list"
    )
    assert len(healthy) == 4
    for run in healthy:
        assert [v for _, v in steps(store, run.info.run_id, "llm.calls")] == list(range(1, 11))
        assert len(predictions(store, run.info.run_id)) == 10
    # The odd call itself is kept, without the count that cannot be one.
    odd = odd_run.info.run_id
    assert steps(store, odd, "llm.calls") == [(0, 1)]
    assert steps(store, odd, "llm.input_tokens") == []
    assert steps(store, odd, "llm.output_tokens")[0][1] > 0
    rows = predictions(store, odd)
    assert rows["outputs"].tolist() == ["Echo: odd"]
    assert rows["input_tokens"].tolist() == [""]


def test_a_deleted_store_directory_is_recreated_and_logging_goes_on(
    autolog, client, tmp_path, caplog
):
    """The exporter used to go on writing into the deleted SQLite file: 0 of 300 later calls
    could be found, and nothing was logged."""
    import logging
    import shutil

    from spanrun.tracking import _uri

    home = tmp_path / "team-store"
    home.mkdir()
    uri = f"sqlite:///{home / 'spanrun.db'}"
    spanrun.set_tracking_uri(uri)
    autolog.autolog()
    for i in range(20):
        chat(client, f"before {i}")
    assert autolog.flush()
    shutil.rmtree(home)
    with caplog.at_level(logging.WARNING, logger="spanrun"):
        for i in range(300):
            chat(client, f"after {i}")
        assert autolog.flush()
    warnings = [r for r in caplog.records if "deleted or replaced" in r.getMessage()]
    assert len(warnings) == 1

    with sqlite3.connect(home / "spanrun.db") as conn:  # in the file there now, for anyone
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone() == (300,)
    fresh = _uri.get_store_for_uri(uri)
    (run,) = fresh.search_runs(["0"])
    assert run.data.metrics["llm.calls"] == 300
    rows = predictions(fresh, run.info.run_id)
    assert rows["inputs"].tolist() == [f"after {i}" for i in range(300)]

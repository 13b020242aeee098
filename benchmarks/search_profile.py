"""Where one ``search_runs`` goes, in-process: SQL for filter+order+limit, loading the page's
runs, their JSON; on SQLite or PostgreSQL.

    python benchmarks/search_profile.py                          # a temporary SQLite file
    python benchmarks/search_profile.py --store-uri postgresql+psycopg://user@host:port/db
    python benchmarks/search_profile.py --profile                # and a cProfile of the call

It fills ``--runs`` runs (5 params, 5 metrics each, as ``benchmarks/server.py``) through the
store, then times the search ``benchmarks/server.py`` times over HTTP (filter
``metrics.m0 > 0.5 and params.p1 = '3'``, order_by ``metrics.m1 DESC``, 100 results), and the
same ordered without a filter. Figures are medians of wall time (the database's work included,
which on PostgreSQL is another process) and of this process's CPU time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from spanrun.core.entities import Metric, Param, ViewType
from spanrun.server._wire import run_json
from spanrun.store import SqlAlchemyStore
from spanrun.store._run_load import load_runs
from spanrun.store._search_filter import parse_filter, parse_order_by
from spanrun.store._search_sql import PAGE_LIMIT, PAGE_OFFSET, run_search_query

FILTER = "metrics.m0 > 0.5 and params.p1 = '3'"
ORDER_BY = ["metrics.m1 DESC"]


def fill(store: SqlAlchemyStore, count: int) -> str:
    experiment_id = store.create_experiment(f"search-{random.random()}")
    rng = random.Random(0)
    for _ in range(count):
        run = store.create_run(experiment_id, "bench", int(time.time() * 1000), [], None)
        now = int(time.time() * 1000)
        store.log_batch(
            run.info.run_id,
            metrics=[Metric(f"m{k}", rng.random(), now, 0) for k in range(5)],
            params=[Param(f"p{k}", str(rng.randint(0, 9))) for k in range(5)],
        )
    return experiment_id


def timed(label: str, fn: Callable[[], Any], rounds: int) -> Any:
    result = fn()  # warm
    wall, cpu = [], []
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    print(
        f"  {label:44} wall p50 {statistics.median(wall):7.2f} ms   "
        f"cpu {statistics.median(cpu):7.2f} ms"
    )
    return result


def profile_search(
    store: SqlAlchemyStore, experiment_id: str, order_by: list[str], filter_string: str, rounds: int
) -> None:
    dialect = store.dialect
    comparisons, keys = parse_filter(filter_string), parse_order_by(order_by)
    stmt = timed(
        "build the page statement",
        lambda: run_search_query(
            [int(experiment_id)], comparisons, ViewType.ACTIVE_ONLY, keys, dialect
        ),
        rounds,
    )
    with store.engine.connect() as conn:
        rows = timed(
            "SQL: filter + order + limit (101 rows)",
            lambda: conn.execute(stmt, {PAGE_OFFSET: 0, PAGE_LIMIT: 101}).all(),
            rounds,
        )
        if dialect == "sqlite":
            compiled = stmt.params({PAGE_OFFSET: 0, PAGE_LIMIT: 101}).compile(
                dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            for row in plan:
                print(f"      {row[-1]}")
        runs = timed(
            "load the page's runs (params, metrics, tags)",
            lambda: load_runs(conn, dialect, rows[:100]),
            rounds,
        )
    timed(
        "JSON of the page (run_json + orjson)",
        lambda: orjson.dumps({"runs": [run_json(r, str) for r in runs]}),
        rounds,
    )
    timed(
        "store.search_runs (all of it)",
        lambda: store.search_runs(
            [experiment_id], filter_string, max_results=100, order_by=order_by
        ),
        rounds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-uri", help="default: a new SQLite file in a temporary folder")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--experiment-id", help="search this (filled) experiment; fill none")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the search")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.store_uri or f"sqlite:///{Path(tmp) / 'search.db'}"
        store = SqlAlchemyStore(uri, str(Path(tmp) / "artifacts"))
        try:
            experiment_id = args.experiment_id
            if experiment_id is None:
                start = time.perf_counter()
                experiment_id = fill(store, args.runs)
                print(f"{args.runs} runs on {store.dialect} in {time.perf_counter() - start:.0f} s")
            for label, filter_string in [("filtered", FILTER), ("unfiltered", "")]:
                print(f"{label}: {filter_string!r} order_by {ORDER_BY}, 100 results")
                profile_search(store, experiment_id, ORDER_BY, filter_string, args.rounds)
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.rounds):
                    store.search_runs([experiment_id], FILTER, max_results=100, order_by=ORDER_BY)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        finally:
            store.close()


if __name__ == "__main__":
    main()

"""``spanrun server --workers 2`` on one SQLite file and on one PostgreSQL database: concurrent
clients lose nothing and see no error."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from spanrun.store import get_store
from tests.server.conftest import ServerProcess

CLIENTS = 8
METRICS_PER_CLIENT = 150
BATCHES_PER_CLIENT = 10


def test_two_workers_concurrent_clients_lose_nothing(
    server_factory: Callable[..., ServerProcess], fresh_backend_uri: str
) -> None:
    server = server_factory(fresh_backend_uri, workers=2)
    experiment_id = server.ok("POST", "experiments/create", json={"name": "concurrent"})[
        "experiment_id"
    ]
    run_ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        # A client of its own per thread: separate connections, so both workers get requests.
        with httpx.Client(base_url=server.base_url, timeout=60) as http:

            def post(path: str, body: dict[str, object]) -> dict[str, object]:
                response = http.post(f"/api/2.0/mlflow/{path}", json=body)
                if response.status_code != 200:
                    with lock:
                        errors.append(f"{path}: {response.status_code} {response.text}")
                result: dict[str, object] = response.json()
                return result

            run = post("runs/create", {"experiment_id": experiment_id, "run_name": f"c{number}"})
            run_id = run["run"]["info"]["run_id"]  # type: ignore[index]
            with lock:
                run_ids.append(run_id)
            for step in range(METRICS_PER_CLIENT):
                post(
                    "runs/log-metric",
                    {"run_id": run_id, "key": "m", "value": step, "timestamp": 1, "step": step},
                )
            for batch in range(BATCHES_PER_CLIENT):
                post(
                    "runs/log-batch",
                    {
                        "run_id": run_id,
                        "metrics": [
                            {"key": "b", "value": i, "timestamp": 2, "step": batch * 100 + i}
                            for i in range(100)
                        ],
                        "params": [{"key": f"p{batch}", "value": str(batch)}],
                    },
                )
            post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 3})

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors[:5]
    assert server.log().count("Started server process") == 2

    store = get_store(fresh_backend_uri, str(server.artifacts_destination))
    assert len(run_ids) == CLIENTS
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert [m.step for m in store.get_metric_history(run_id, "m")] == list(
            range(METRICS_PER_CLIENT)
        )
        assert len(store.get_metric_history(run_id, "b")) == 100 * BATCHES_PER_CLIENT
        assert run.data.params == {f"p{b}": str(b) for b in range(BATCHES_PER_CLIENT)}
    found = store.search_runs([experiment_id], max_results=100)
    assert sorted(r.info.run_id for r in found) == sorted(run_ids)

"""Appending prediction rows to runs' ``llm_predictions.csv`` once their batch committed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from spanrun.artifacts.predictions import append_prediction_rows
from spanrun.core.vocabulary import AUTOLOG_PREDICTION_COLUMNS, PREDICTIONS_FILE
from spanrun.exporters._drops import Drops
from spanrun.exporters._retry import RetryPolicy
from spanrun.exporters._run_ledger import RunLedger

__all__ = ["PredictionFiles", "ReadyEntry"]

#: Committed rows (ledger, rows, their CSV bytes or None), or a call to make once the rows
#: before it are appended (an export's ``on_written``).
ReadyEntry = tuple[RunLedger, list[list[str]], bytes | None] | Callable[[], None]

_MAX_REPOS = 1000  # artifact repositories kept open (the cache is emptied beyond)


class PredictionFiles:
    """The runs' prediction files: rows of committed batches wait in :attr:`ready` until
    :meth:`append_ready` appends them (retried with ``retry``; given-up rows counted as dropped
    calls in ``drops``). Rows of one run keep their order; rows follow their batch's metrics.
    A callable in :attr:`ready` is called once the rows queued before it are appended.
    """

    def __init__(self, retry: RetryPolicy, drops: Drops) -> None:
        self._retry = retry
        self._drops = drops
        self.ready: deque[ReadyEntry] = deque()
        self._repos: dict[str, Any] = {}

    def after_fork_in_child(self) -> None:
        self.ready = deque()  # the parent's committed rows are the parent's to append

    def forget_repositories(self) -> None:
        self._repos.clear()

    def append_ready(self) -> None:
        """Append the rows of every committed batch, in order (the mapping thread, between
        batches: see ``WritePipeline``).

        Files, not the store: a store that failed this thread's last batch does not make them
        fail fast, nor does a file that fails mark the store down.
        """
        ready = self.ready
        if not ready:
            return
        retry = self._retry
        store_down, retry.store_down = retry.store_down, False
        try:
            while ready:
                entry = ready.popleft()
                if callable(entry):
                    entry()
                else:
                    self.write(*entry)
        finally:
            retry.store_down = store_down

    def write(self, ledger: RunLedger, rows: list[list[str]], encoded: bytes | None = None) -> bool:
        """Append ``rows`` (``encoded``: their CSV bytes, when known) to the run's file now;
        False when it was given up (the rows are counted as dropped calls)."""
        if not rows:
            return True
        done, _ = self._retry.run(
            f"append {len(rows)} rows to {PREDICTIONS_FILE} of run {ledger.run_id}",
            lambda: self._append(ledger, rows, encoded),
        )
        if not done:
            self._drops.count(calls=len(rows))
        return done

    def _append(self, ledger: RunLedger, rows: list[list[str]], encoded: bytes | None) -> None:
        from spanrun.artifacts import get_artifact_repository

        repo = self._repos.get(ledger.artifact_uri)
        if repo is None:
            repo = get_artifact_repository(ledger.artifact_uri)
            if len(self._repos) > _MAX_REPOS:
                self._repos.clear()
            self._repos[ledger.artifact_uri] = repo
        append_prediction_rows(
            repo,
            rows,
            list(AUTOLOG_PREDICTION_COLUMNS),
            artifact_file=PREDICTIONS_FILE,
            encoded=encoded,
        )

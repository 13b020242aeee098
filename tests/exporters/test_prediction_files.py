"""Appending committed rows to runs' prediction files (``_prediction_files.PredictionFiles``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spanrun.core.vocabulary import AUTOLOG_PREDICTION_COLUMNS, PREDICTIONS_FILE
from spanrun.exporters._drops import Drops
from spanrun.exporters._prediction_files import PredictionFiles
from spanrun.exporters._retry import RetryPolicy
from spanrun.exporters._run_ledger import RunLedger


def _files(attempts: int = 2) -> tuple[PredictionFiles, RetryPolicy, Drops]:
    drops = Drops()
    retry = RetryPolicy(attempts, 0.0, drops.warn_once)
    return PredictionFiles(retry, drops), retry, drops


def _row(i: int) -> list[str]:
    return [f"in {i}", f"out {i}", "[]", "m", "1.0", "1", "2", "3", "t", "s", str(i), ""]


def test_ready_rows_are_appended_in_order(tmp_path: Path) -> None:
    files, _, drops = _files()
    ledger = RunLedger("r", "0", str(tmp_path / "artifacts"))
    files.ready.append((ledger, [_row(1), _row(2)], None))
    files.ready.append((ledger, [_row(3)], None))
    files.append_ready()
    assert not files.ready
    table = pd.read_csv(tmp_path / "artifacts" / PREDICTIONS_FILE, keep_default_na=False)
    assert list(table.columns) == list(AUTOLOG_PREDICTION_COLUMNS)
    assert list(table["inputs"]) == ["in 1", "in 2", "in 3"]
    assert drops.calls == 0


def test_a_file_that_cannot_be_written_costs_its_rows_not_the_stores_state(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    files, retry, drops = _files()
    retry.store_down = True  # the store failed this thread's last batch
    files.ready.append((RunLedger("r", "0", str(blocker / "artifacts")), [_row(1)], None))
    files.append_ready()  # tried anyway: files are not the store
    assert drops.calls == 1
    assert retry.store_down  # restored: neither set nor cleared by the files


def test_no_rows_is_nothing_to_write(tmp_path: Path) -> None:
    files, _, _ = _files()
    assert files.write(RunLedger("r", "0", str(tmp_path / "a")), [])
    assert not (tmp_path / "a").exists()

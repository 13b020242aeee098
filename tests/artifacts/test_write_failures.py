"""A write cut short by the file-size limit (a stand-in for a full disk) leaves every file as it
was: no torn CSV row, no broken table JSON. Runs in a subprocess that lowers RLIMIT_FSIZE."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")

SCRIPT = textwrap.dedent(
    """
    import resource, signal, sys
    from spanrun.artifacts import LocalArtifactRepository
    from spanrun.errors import StoreError
    from spanrun.llm import append_prediction_rows
    from spanrun.tracking._tables import _write_rows

    repo = LocalArtifactRepository(sys.argv[1])
    append_prediction_rows(repo, [{"a": "first"}], ["a"])
    _write_rows(repo, "t.json", ["a"], [["first"]])
    csv_before, table_before = repo.read_bytes("llm_predictions.csv"), repo.read_bytes("t.json")

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    big = "x" * 100_000
    for attempt in (
        lambda: append_prediction_rows(repo, [{"a": big}], ["a"]),
        lambda: _write_rows(repo, "t.json", ["a"], [[big]]),
    ):
        try:
            attempt()
        except StoreError:
            pass
        else:
            sys.exit("the oversized write did not fail")
    assert repo.read_bytes("llm_predictions.csv") == csv_before, "CSV changed"
    assert repo.read_bytes("t.json") == table_before, "table changed"
    print("intact")
    """
)


def test_failed_appends_leave_files_intact(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "artifacts")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip() == "intact"

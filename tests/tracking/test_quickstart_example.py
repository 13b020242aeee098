"""examples/quickstart.py runs and leaves the data it describes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import spanrun

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_runs_and_writes_into_the_given_directory(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "accuracy history: [(0, 0.6)" in out.stdout
    client = spanrun.SpanrunClient(f"sqlite:///{tmp_path / 'spanrun.db'}")
    experiment = client.get_experiment_by_name("quickstart")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4  # two runs, each with a nested run
    assert all(r.info.status == "FINISHED" for r in runs)

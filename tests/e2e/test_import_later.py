"""A library imported after autolog() is instrumented; exit stores everything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ._helpers import predictions


def test_openai_imported_after_autolog(store, tracking_uri, openai_server):
    script = Path(__file__).with_name("_import_later.py")
    done = subprocess.run(
        [sys.executable, str(script), openai_server.base_url],
        env={**os.environ, "SPANRUN_TRACKING_URI": tracking_uri},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    runs = {r.info.run_name: r for r in store.search_runs(["0"])}
    assert set(runs) == {"late-import", "_import_later"}
    assert all(r.info.status == "FINISHED" for r in runs.values())
    assert predictions(store, runs["late-import"].info.run_id)["inputs"].tolist() == ["a"]
    assert predictions(store, runs["_import_later"].info.run_id)["inputs"].tolist() == ["b"]

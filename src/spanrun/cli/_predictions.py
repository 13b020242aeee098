"""``spanrun predictions export``: a copy of a run's ``llm_predictions.csv``, optionally made
safe to open in a spreadsheet.

The stored file keeps every cell verbatim (the data must stay exact), so a prompt or model
output such as ``=HYPERLINK(...)`` is a formula to Excel, LibreOffice or Google Sheets when the
file is opened there (CSV injection). ``--excel-safe`` writes a copy where each cell starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (OWASP's
advice), which spreadsheets show as text; that copy is for reading, not for exact data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import click

from spanrun.cli._context import SpanrunGroup, get_client, pick_ids
from spanrun.core.vocabulary import PREDICTIONS_FILE
from spanrun.errors import NotFoundError

__all__ = ["FORMULA_PREFIXES", "excel_safe_csv", "predictions"]

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a CSV as UTF-8 only when it starts with a byte order mark (else the ANSI code
# page: non-ASCII text is garbled); LibreOffice and Google Sheets skip it.
_UTF8_BOM = "\ufeff"


def _escape(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _escaped_rows(rows: Iterable[list[str]]) -> Iterable[list[str]]:
    for row in rows:
        yield [_escape(cell) for cell in row]


def excel_safe_csv(data: bytes) -> bytes:
    """The CSV ``data`` with every formula-like cell prefixed with ``'``, and a UTF-8 BOM.

    Other cells are unchanged; records are written as the stored file writes them (the csv
    module's "excel" dialect: ``\\r\\n`` line ends, cells quoted when they need it).
    """
    text = data.decode("utf-8-sig")
    out = io.StringIO()
    out.write(_UTF8_BOM)
    csv.writer(out).writerows(_escaped_rows(csv.reader(io.StringIO(text, newline=""))))
    return out.getvalue().encode("utf-8")


@click.group(cls=SpanrunGroup)
def predictions() -> None:
    """Export a run's LLM predictions (llm_predictions.csv)."""


@predictions.command("export")
@click.argument("run_id", required=False)
@click.option("--run-id", "-r", "id_option", metavar="ID", help="Same as RUN_ID.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Where to write the CSV. Default: standard output.",
)
@click.option(
    "--excel-safe",
    is_flag=True,
    help="Prefix cells starting with = + - @ tab or CR with ' so that spreadsheets show them "
    "as text instead of running them as formulas (and add a UTF-8 BOM for Excel). The copy "
    "is for reading: without the flag the file is exported byte for byte.",
)
def export(run_id: str | None, id_option: str | None, output: str | None, excel_safe: bool) -> None:
    """Write a run's llm_predictions.csv to FILE or standard output."""
    from spanrun.artifacts import get_artifact_repository

    ids = pick_ids([run_id] if run_id else [], id_option, "run")
    if len(ids) != 1:
        raise click.UsageError("Give one run id.")
    repo = get_artifact_repository(get_client().get_artifact_uri(ids[0]))
    try:
        data = repo.read_bytes(PREDICTIONS_FILE)
    except NotFoundError:
        raise NotFoundError(f"Run {ids[0]} has no {PREDICTIONS_FILE}.") from None
    if excel_safe:
        data = excel_safe_csv(data)
    # Opened only now: a failed lookup leaves no empty file behind.
    with click.open_file(output or "-", "wb") as f:
        f.write(data)
    if output is not None:
        click.echo(output)

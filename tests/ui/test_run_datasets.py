"""The run page's Datasets table (a run's inputs): names shown as text, escaped, served by a
real uvicorn server over a SQLite store."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pandas as pd

import spanrun
from tests.ui._server import serve

HOSTILE = '<img src=x onerror="window.__xss=1">&amp;'


def test_run_page_lists_datasets_escaped(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'ui.db'}"
    spanrun.set_tracking_uri(uri)
    df = pd.DataFrame({"q": ["a", "b", "c"]})
    with spanrun.start_run() as run:
        spanrun.log_input(spanrun.data.from_pandas(df, name=HOSTILE), context=f"ctx {HOSTILE}")
        spanrun.log_input(spanrun.data.from_numpy(df.to_numpy(), name="arrays"))
    with spanrun.start_run() as bare:
        pass
    with serve(uri) as base, httpx.Client(base_url=base, timeout=30) as http:
        page = http.get(f"/runs/{run.info.run_id}")
        assert page.status_code == 200
        text = page.text
        table = text.split('id="datasets"', 1)[1].split("</table>", 1)[0]
        rows = [
            [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", table)
            if "<td" in row
        ]
        # The name and the context are text: escaped in the HTML, the same once unescaped.
        assert rows[0][0] == HOSTILE and rows[0][2] == f"ctx {HOSTILE}"
        assert rows[0][3:] == ["code", "3"]  # no source: the code; the profile's rows
        assert rows[1][0] == "arrays" and rows[1][4] == "\N{EN DASH}"  # no num_rows for numpy
        assert "<img" not in text
        assert "Datasets (2)" in text
        assert 'id="datasets"' not in http.get(f"/runs/{bare.info.run_id}").text

"""log_figure (issue 14, MLflow's mlflow.log_figure): matplotlib figures in the format of the
extension, plotly figures as HTML; anything else a typed error."""

from __future__ import annotations

import pytest

import spanrun
from spanrun.errors import InvalidInputError


def test_matplotlib_figure_as_png_and_svg() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 4, 9])
    with spanrun.start_run() as run:
        spanrun.log_figure(fig, "plots/curve.png")
        spanrun.log_figure(fig, "plots/curve.svg")
    plt.close(fig)
    files = {f.path for f in spanrun.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert files == {"plots/curve.png", "plots/curve.svg"}
    local = spanrun.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots")
    with open(f"{local}/curve.png", "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(f"{local}/curve.svg", encoding="utf-8") as svg:
        assert "<svg" in svg.read()


def test_plotly_figure_as_html() -> None:
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(data=[go.Bar(x=["a", "b"], y=[1, 3])])
    with spanrun.start_run() as run:
        spanrun.log_figure(fig, "bars.html")
    text = spanrun.artifacts.load_text(f"runs:/{run.info.run_id}/bars.html")
    assert "plotly" in text.lower() and "<html" in text.lower()


def test_not_a_figure_is_a_typed_error() -> None:
    with spanrun.start_run(), pytest.raises(InvalidInputError, match="matplotlib or plotly"):
        spanrun.log_figure("not a figure", "x.png")

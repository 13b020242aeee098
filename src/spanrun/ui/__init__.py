"""spanrun's web UI: server-rendered pages over a tracking store.

Experiments, an experiment's runs table (filter with the search grammar, sort, page, choose
columns), a run's page (params, metrics with charts, tags, artifacts with previews, traces),
compare runs, predictions side by side, and traces with their span tree. Served by
``spanrun ui`` / ``spanrun server`` as a server extension::

    from spanrun.server import create_app
    from spanrun.ui import UiExtension

    app = create_app(uri, extensions=[UiExtension(get_store(uri))])

Every logged string is rendered as text (Jinja2 autoescape; the scripts use ``textContent``)
under a Content-Security-Policy without inline scripts; the chart library (uPlot) ships in the
wheel, so the UI works offline.
"""

from spanrun.ui._extension import UiExtension

__all__ = ["UiExtension"]

"""Calling metrics as MLflow's default evaluator does: arguments chosen by the ``eval_fn``'s
parameter names, metrics that use other metrics computed after them, results checked.

A parameter named ``predictions`` gets the outputs, ``targets`` the targets, ``metrics`` the
:class:`MetricValue` of the metrics computed so far, ``inputs`` the model's input column (the
input columns when there are several); any other name is looked up, after
``evaluator_config["col_mapping"]``, as a data column, a model output column, an
``evaluator_config`` key, then another metric's name. A ``**kwargs`` parameter gets every data
and output column not already given. A name found nowhere is a missing column unless the
parameter has a default.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import numbers
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from spanrun.errors import InvalidInputError
from spanrun.evaluation._judge_limit import current_judge_limit
from spanrun.evaluation._metric import EvaluationMetric, MetricValue, standard_aggregations

__all__ = ["ScoringData", "check_metric_inputs", "metric_key", "score"]

_log = logging.getLogger("spanrun.evaluation")
_WAIT = object()  # "computed later": the argument is another metric not computed yet


def metric_key(metric: EvaluationMetric) -> str:
    """``name/version`` (or ``name``): how MLflow keys a metric's values."""
    return f"{metric.name}/{metric.version}" if metric.version else metric.name


@dataclass
class ScoringData:
    """What metrics can ask for (row-aligned Series share a 0..n-1 index)."""

    data: pd.DataFrame
    features: list[str]
    targets: str | None
    predictions_name: str | None
    col_mapping: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    predictions: pd.Series | None = None
    other_outputs: pd.DataFrame | None = None
    used_outputs: set[str] = field(default_factory=set)

    def inputs(self) -> Any:
        if "inputs" in self.data.columns:
            return self.data["inputs"]
        if len(self.features) == 1:
            return self.data[self.features[0]]
        return self.data[self.features]


def _find(
    name: str,
    column: Any,
    src: ScoringData,
    values: Mapping[str, MetricValue],
    scheduled: Sequence[str],
    dry: bool,
) -> Any:
    """The value for one parameter, ``_WAIT``, or ``KeyError`` when found nowhere."""
    if not isinstance(column, str):
        return column  # col_mapping gave the values themselves
    if column in ("predictions", src.predictions_name):
        return None if dry else src.predictions
    if column in ("targets", src.targets):
        if src.targets is None:
            raise KeyError(name)
        return src.data[src.targets]
    if column == "metrics":
        return dict(values)
    if column in src.data.columns:
        return src.data[column]
    if src.other_outputs is not None and column in src.other_outputs.columns:
        src.used_outputs.add(column)
        return src.other_outputs[column]
    if column == "inputs":
        return src.inputs()
    if column in src.config:
        return src.config[column]
    for key, value in values.items():
        if key.split("/")[0] == column:
            return value
    if column in scheduled:
        return _WAIT
    raise KeyError(name)


def _arguments(
    metric: EvaluationMetric,
    src: ScoringData,
    values: Mapping[str, MetricValue],
    scheduled: Sequence[str],
    dry: bool = False,
) -> tuple[dict[str, Any] | None, list[str]]:
    """``(kwargs, missing)``; kwargs is None while a metric it uses is still to be computed."""
    try:
        params = inspect.signature(metric.eval_fn).parameters
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"Metric {metric.name!r}: cannot read its eval_fn's parameters"
        ) from None
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    waiting = False
    rest = False
    for name, param in params.items():
        if param.kind is param.VAR_KEYWORD:
            rest = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        try:
            value = _find(name, src.col_mapping.get(name, name), src, values, scheduled, dry)
        except KeyError:
            if param.default is inspect.Parameter.empty:
                missing.append(name)
            continue
        if value is _WAIT:
            waiting = True
        else:
            kwargs[name] = value
    if rest:
        for column in src.data.columns:
            kwargs.setdefault(str(column), src.data[column])
        if src.other_outputs is not None:
            for column in src.other_outputs.columns:
                kwargs.setdefault(str(column), src.other_outputs[column])
    return (None if waiting else kwargs), missing


def check_metric_inputs(metrics: Sequence[EvaluationMetric], src: ScoringData) -> None:
    """Raise InvalidInputError naming every metric that asks for something the evaluation will
    not have (called before any model call)."""
    names = [m.name for m in metrics]
    problems = []
    for metric in metrics:
        _, missing = _arguments(metric, src, {}, names, dry=True)
        if missing:
            needs = [
                f"the {p!r} argument of evaluate()" if p in ("targets",) else f"column {p!r}"
                for p in missing
            ]
            problems.append(f"metric {metric.name!r} needs {', '.join(needs)}")
    if problems:
        columns = [str(c) for c in src.data.columns]
        raise InvalidInputError(
            f"Cannot compute {'; '.join(problems)}. The data has the columns {columns}"
            f"{'' if src.targets else ' and no targets'}; map a column to a parameter with "
            "evaluator_config={'col_mapping': {'<parameter>': '<column>'}}"
        )


def _checked(metric: EvaluationMetric, value: Any, rows: int, builtin: bool) -> MetricValue | None:
    """MLflow's checks of what an eval_fn returned; a number becomes the metric's aggregate."""
    where = f"metric {metric.name!r}"
    say = _log.debug if builtin else _log.warning
    if value is None:
        say("Did not log %s: it returned None", where)
        return None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return MetricValue(aggregate_results={metric.name: float(value)})  # type: ignore[arg-type]
    if not isinstance(value, MetricValue):
        _log.warning("Did not log %s: it returned a %s, not a MetricValue", where,
                     type(value).__name__)  # fmt: skip
        return None
    scores, justifications = value.scores, value.justifications
    if scores is not None:
        if not isinstance(scores, list) or len(scores) != rows:
            _log.warning("Did not log %s: scores must be a list with one entry per row", where)
            return None
        if any(
            not (s is None or isinstance(s, (str, numbers.Number))) or isinstance(s, bool)
            for s in scores
        ):
            _log.warning("Did not log %s: scores must be numbers or strings", where)
            return None
    if justifications is not None and (
        not isinstance(justifications, list)
        or any(not (j is None or isinstance(j, str)) for j in justifications)
    ):
        _log.warning("Did not log %s: justifications must be a list of strings", where)
        return None
    aggregates = value.aggregate_results
    if aggregates is not None and not (
        isinstance(aggregates, dict)
        and all(
            isinstance(k, str) and (v is None or isinstance(v, numbers.Number))
            for k, v in aggregates.items()
        )
    ):
        _log.warning("Did not log %s: aggregate_results must map names to numbers", where)
        return None
    if aggregates is None and scores:
        numeric = [s for s in scores if s is not None]
        if numeric and all(isinstance(s, numbers.Number) for s in numeric):
            # MLflow's MetricValue adds the standard aggregations to numeric scores.
            aggregates = standard_aggregations(numeric)
    return MetricValue(scores, justifications, aggregates)


def _runs_alongside(metric: EvaluationMetric) -> bool:
    """Judge metrics (``make_genai_metric*``) wait on the network and ignore their ``metrics``
    argument: they run at the same time as the metrics around them."""
    return metric.genai_metric_args is not None


def _call(metric: EvaluationMetric, kwargs: dict[str, Any]) -> tuple[Any, Exception | None]:
    try:
        return metric.eval_fn(**kwargs), None
    except Exception as exc:  # reported by _keep, in the metrics' order
        return None, exc


def _keep(
    values: dict[str, MetricValue],
    metric: EvaluationMetric,
    outcome: tuple[Any, Exception | None],
    rows: int,
    builtin: bool,
) -> None:
    result, exc = outcome
    if exc is not None:
        _log.warning(
            "Metric %r failed and is left out (the other metrics are logged): %s: %s",
            metric.name,
            type(exc).__name__,
            exc,
            exc_info=(type(exc), exc, exc.__traceback__)
            if _log.isEnabledFor(logging.DEBUG)
            else None,
        )
        return
    checked = _checked(metric, result, rows, builtin=builtin)
    if checked is not None:
        values[metric_key(metric)] = checked


def _settle(
    running: list[tuple[int, EvaluationMetric, Future[Any]]],
    values: dict[str, MetricValue],
    rows: int,
    builtin_count: int,
) -> None:
    """Wait for the running metrics and keep their values, in their order."""
    for index, metric, future in running:
        _keep(values, metric, future.result(), rows, index < builtin_count)
    running.clear()


def _start_judges(
    pool: ThreadPoolExecutor,
    pending: list[tuple[int, EvaluationMetric]],
    src: ScoringData,
    values: dict[str, MetricValue],
) -> dict[int, Future[Any]]:
    """Start, before the metrics computed in this thread, the judge metrics that have all their
    arguments now: their calls are in flight while the others compute. (A judge metric given
    its arguments now gets the same ones later: values only grow, and it ignores ``metrics``.)"""
    started: dict[int, Future[Any]] = {}
    for index, metric in pending:
        if not _runs_alongside(metric):
            continue
        scheduled = [m.name for _, m in pending if m is not metric]
        kwargs, missing = _arguments(metric, src, values, scheduled)
        if kwargs is not None and not missing:
            task = contextvars.copy_context().run
            started[index] = pool.submit(task, _call, metric, kwargs)
    return started


def score(
    metrics: Sequence[EvaluationMetric], src: ScoringData, builtin_count: int = 0
) -> dict[str, MetricValue]:
    """Compute ``metrics`` in an order that gives each the metrics it uses; a metric that raises
    or returns something malformed is left out (logged), the others are kept.

    Judge metrics run in threads, at the same time as each other and as the other metrics (they
    start first); a metric that uses other metrics (``metrics`` or a metric's name) first waits
    for the ones running. The values come out in the order of a one-at-a-time computation.
    """
    values: dict[str, MetricValue] = {}
    rows = len(src.data)
    pending = list(enumerate(metrics))
    limit = current_judge_limit()
    with ThreadPoolExecutor(thread_name_prefix="spanrun-metric") as pool:
        try:
            while pending:
                progressed = False
                later = []
                running: list[tuple[int, EvaluationMetric, Future[Any]]] = []
                started = _start_judges(pool, pending, src, values)
                for index, metric in pending:
                    alongside = _runs_alongside(metric)
                    if index in started:
                        progressed = True
                        running.append((index, metric, started[index]))
                        continue
                    if not alongside:
                        # It may use the metrics running: their values come first.
                        _settle(running, values, rows, builtin_count)
                    scheduled = [m.name for _, m in pending if m is not metric]
                    kwargs, missing = _arguments(metric, src, values, scheduled)
                    if kwargs is None and running:
                        # It waits on a metric being computed.
                        _settle(running, values, rows, builtin_count)
                        kwargs, missing = _arguments(metric, src, values, scheduled)
                    if missing:
                        _log.warning("Did not log metric %r: no value for %s", metric.name, missing)
                        progressed = True
                        continue
                    if kwargs is None:
                        later.append((index, metric))
                        continue
                    progressed = True
                    if alongside:
                        task = contextvars.copy_context().run
                        running.append((index, metric, pool.submit(task, _call, metric, kwargs)))
                    else:
                        _keep(values, metric, _call(metric, kwargs), rows, index < builtin_count)
                _settle(running, values, rows, builtin_count)
                if not progressed:
                    names = [m.name for _, m in later]
                    _log.warning(
                        "Did not log metrics %s: they depend on each other in a cycle", names
                    )
                    break
                pending = later
        except BaseException:
            if limit is not None:
                limit.cancel()  # Ctrl-C: the judge calls not started are not sent
            raise
    return values

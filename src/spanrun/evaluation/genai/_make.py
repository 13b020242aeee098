"""``make_genai_metric`` and ``make_genai_metric_from_prompt``: LLM-judge metrics, as MLflow's.

The metric's ``eval_fn`` takes ``predictions``, ``metrics``, ``inputs`` and one argument per
grading context column (Series or lists, row-aligned; by keyword, or by position in that
order as MLflow's) and returns a ``MetricValue``: per-row scores (None where the judge gave
none: the reason is that row's justification), justifications and the chosen aggregations.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from spanrun.errors import InvalidInputError
from spanrun.evaluation import EvaluationMetric, MetricValue, make_metric
from spanrun.evaluation.genai._example import EvaluationExample
from spanrun.evaluation.genai._judge import Judge
from spanrun.evaluation.genai._prompt import ANSWER_FORMAT, GradingPrompt

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_JUDGE",
    "JUDGE_PARAMETERS",
    "make_genai_metric",
    "make_genai_metric_from_prompt",
]

#: The judge model when none is given.
DEFAULT_JUDGE = "openai:/gpt-4o-mini"
#: MLflow's request parameters of a judge call when none are given.
JUDGE_PARAMETERS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 200, "top_p": 1.0}
_VERSIONS = ("v1",)
_DEFAULT_AGGREGATIONS = ("mean", "variance", "p90")
#: Aggregation name -> function over the scored rows (MLflow's options).
AGGREGATIONS: dict[str, Callable[[np.ndarray], float]] = {
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "mean": lambda v: float(np.mean(v)),
    "median": lambda v: float(np.median(v)),
    "variance": lambda v: float(np.var(v)),
    "p90": lambda v: float(np.percentile(v, 90)),
}
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_RETRIES = 3


def _aggregations(aggregations: Iterable[str] | None) -> list[str]:
    chosen = list(_DEFAULT_AGGREGATIONS if aggregations is None else aggregations)
    unknown = [a for a in chosen if a not in AGGREGATIONS]
    if unknown:
        raise InvalidInputError(
            f"Invalid aggregations {unknown}: choose from {sorted(AGGREGATIONS)}"
        )
    return chosen


def _aggregate(scores: Sequence[float | None], aggregations: list[str]) -> dict[str, float]:
    values = np.array([s for s in scores if s is not None], dtype=float)
    if values.size == 0:
        return {}  # no row was scored: no aggregate (never a NaN from an empty array)
    return {name: AGGREGATIONS[name](values) for name in aggregations}


def _column(value: Any, name: str, rows: int | None) -> list[Any]:
    """A row-aligned argument as a list (a scalar is repeated on every row, as MLflow does)."""
    if value is None or isinstance(value, (str, bytes)) or np.isscalar(value):
        if rows is None:
            raise InvalidInputError(f"{name} must be a Series or a list of rows, got {value!r}")
        return [value] * rows
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # several input columns
        values: list[Any] = value.to_dict(orient="records")
    elif hasattr(value, "tolist"):
        values = value.tolist()
    else:
        try:
            values = list(value)
        except TypeError:
            raise InvalidInputError(f"{name} must be a Series or a list, got {value!r}") from None
    if rows is not None and len(values) != rows:
        raise InvalidInputError(f"{name} has {len(values)} rows, the predictions {rows}")
    return values


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _check_examples(
    examples: Sequence[EvaluationExample] | None, columns: list[str], include_input: bool
) -> list[EvaluationExample]:
    checked = []
    for example in examples or ():
        if not isinstance(example, EvaluationExample):
            raise InvalidInputError(f"examples must be EvaluationExample objects, got {example!r}")
        context = example.grading_context
        if context is None and not columns:
            context = {}
        elif isinstance(context, str) and columns:
            context = {columns[0]: context}  # a text is the first column's, as MLflow reads it
        if not isinstance(context, dict) or set(context) != set(columns):
            given = list(context) if isinstance(context, dict) else context
            raise InvalidInputError(
                f"An example's grading context {given!r} does not match the metric's grading "
                f"context columns {columns}"
            )
        checked.append(
            EvaluationExample(
                output=example.output,
                score=example.score,
                justification=example.justification,
                input=example.input if include_input else None,
                grading_context=context,
            )
        )
    return checked


def _signature(names: Sequence[str]) -> inspect.Signature:
    """Every parameter required, as MLflow's: ``evaluate`` checks it can give them all."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter(n, kind) for n in names])


def _bind(
    signature: inspect.Signature, metric: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The arguments by name; a missing one is a clear error that says how to provide it."""
    try:
        given = signature.bind_partial(*args, **kwargs).arguments
    except TypeError as exc:
        raise InvalidInputError(f"metric {metric!r}: {exc}") from None
    missing = [name for name in signature.parameters if given.get(name) is None]
    if missing:
        raise InvalidInputError(
            f"metric {metric!r} needs {missing}: give them as columns of the data (or "
            "targets=...), or map columns to them with "
            "evaluator_config={'col_mapping': {'<parameter>': '<column>'}}"
        )
    return given


def make_genai_metric(
    name: str,
    definition: str,
    grading_prompt: str,
    examples: list[EvaluationExample] | None = None,
    version: str | None = "v1",
    model: str | None = DEFAULT_JUDGE,
    grading_context_columns: str | list[str] | None = None,
    include_input: bool = True,
    parameters: dict[str, Any] | None = None,
    aggregations: list[str] | None = None,
    greater_is_better: bool = True,
    max_workers: int | None = None,
    metric_metadata: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    *,
    max_retries: int = _MAX_RETRIES,
) -> EvaluationMetric:
    """An LLM-judge metric (``mlflow.metrics.genai.make_genai_metric``).

    The judge (``model``, an ``openai:/<model>`` URI) grades each row from the metric's
    ``definition``, its rubric (``grading_prompt``), the ``examples``, the row's input (unless
    ``include_input=False``), output and ``grading_context_columns`` (columns of the data, or
    ``targets``), and answers a 1-5 ``score`` with a ``justification``. ``parameters`` are the
    judge's request parameters (default: temperature 0, max_tokens 200, top_p 1);
    ``max_workers``, when given, caps this metric's concurrent judge calls (inside ``evaluate``
    the evaluation-wide ``max_in_flight`` bounds all judge calls; outside, 10 at once when not
    given); ``max_retries`` (spanrun's) is how often
    a 429, 5xx or connection error is retried, with exponential backoff. A row the judge could
    not grade gets no score and the reason as its justification.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError("make_genai_metric: name must be a non-empty string")
    version = version or "v1"
    if version not in _VERSIONS:
        raise InvalidInputError(
            f"Failed to find evaluation model for version {version!r}: supported {_VERSIONS}"
        )
    columns = (
        []
        if grading_context_columns is None
        else [grading_context_columns]
        if isinstance(grading_context_columns, str)
        else list(grading_context_columns)
    )
    chosen = _aggregations(aggregations)
    shown = _check_examples(examples, columns, include_input)
    judge = Judge(
        name,
        model or DEFAULT_JUDGE,
        JUDGE_PARAMETERS if parameters is None else parameters,
        extra_headers,
        proxy_url,
        max_workers,
        max_retries,
    )
    prompt = GradingPrompt(name, definition, grading_prompt, shown, include_input)
    signature = _signature(["predictions", "metrics", "inputs", *columns])

    def eval_fn(*args: Any, **kwargs: Any) -> MetricValue:
        given = _bind(signature, name, args, kwargs)
        outputs = _column(given["predictions"], "predictions", None)
        rows = len(outputs)
        inputs = _column(given["inputs"], "inputs", rows)
        context_values = {column: _column(given[column], column, rows) for column in columns}
        prompts = [
            prompt.format(
                _text(inputs[i]),
                _text(outputs[i]),
                {c: _text(values[i]) for c, values in context_values.items()},
            )
            for i in range(rows)
        ]
        scores, justifications = judge.grade(prompts)
        return MetricValue(scores, justifications, _aggregate(scores, chosen))

    eval_fn.__signature__ = signature  # type: ignore[attr-defined]
    eval_fn.__name__ = name
    return make_metric(
        eval_fn=eval_fn,
        greater_is_better=greater_is_better,
        name=name,
        version=version,
        metric_details=str(prompt),
        metric_metadata=metric_metadata,
        genai_metric_args={
            "name": name,
            "definition": definition,
            "grading_prompt": grading_prompt,
            "examples": examples,
            "version": version,
            "model": model,
            "grading_context_columns": grading_context_columns,
            "include_input": include_input,
            "parameters": parameters,
            "aggregations": aggregations,
            "greater_is_better": greater_is_better,
            "max_workers": max_workers,
            "metric_metadata": metric_metadata,
            "fn_name": "make_genai_metric",
        },
    )


def make_genai_metric_from_prompt(
    name: str,
    judge_prompt: str | None = None,
    model: str | None = DEFAULT_JUDGE,
    parameters: dict[str, Any] | None = None,
    aggregations: list[str] | None = None,
    greater_is_better: bool = True,
    max_workers: int | None = None,
    metric_metadata: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    proxy_url: str | None = None,
    *,
    max_retries: int = _MAX_RETRIES,
) -> EvaluationMetric:
    """An LLM-judge metric from one prompt (``mlflow.metrics.genai.make_genai_metric_from_prompt``).

    ``judge_prompt`` names its variables in braces (``{predictions}``, ``{inputs}``, any data
    column); the metric's ``eval_fn`` takes them by those names. The judge is told to answer
    ``{"score": ..., "justification": ...}``.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError("make_genai_metric_from_prompt: name must be a non-empty string")
    if not isinstance(judge_prompt, str) or not judge_prompt.strip():
        raise InvalidInputError("make_genai_metric_from_prompt: give the judge_prompt text")
    chosen = _aggregations(aggregations)
    variables = list(dict.fromkeys(_VARIABLE.findall(judge_prompt)))
    others = [v for v in variables if v != "predictions"]
    judge = Judge(
        name,
        model or DEFAULT_JUDGE,
        JUDGE_PARAMETERS if parameters is None else parameters,
        extra_headers,
        proxy_url,
        max_workers,
        max_retries,
    )
    signature = _signature(["predictions", *others])
    template = f"{judge_prompt}\n\n{ANSWER_FORMAT}"

    def eval_fn(*args: Any, **kwargs: Any) -> MetricValue:
        given = _bind(signature, name, args, kwargs)
        rows = len(_column(given["predictions"], "predictions", None))
        values = {v: _column(given[v], v, rows) for v in variables}
        prompts = [
            _VARIABLE.sub(
                lambda m, i=i: (
                    _text(values[m.group(1)][i])  # type: ignore[misc]
                    if m.group(1) in values
                    else m.group(0)
                ),
                template,
            )
            for i in range(rows)
        ]
        scores, justifications = judge.grade(prompts)
        return MetricValue(scores, justifications, _aggregate(scores, chosen))

    eval_fn.__signature__ = signature  # type: ignore[attr-defined]
    eval_fn.__name__ = name
    return make_metric(
        eval_fn=eval_fn,
        greater_is_better=greater_is_better,
        name=name,
        metric_metadata=metric_metadata,
        genai_metric_args={
            "name": name,
            "judge_prompt": judge_prompt,
            "model": model,
            "parameters": parameters,
            "aggregations": aggregations,
            "greater_is_better": greater_is_better,
            "max_workers": max_workers,
            "metric_metadata": metric_metadata,
            "fn_name": "make_genai_metric_from_prompt",
        },
    )

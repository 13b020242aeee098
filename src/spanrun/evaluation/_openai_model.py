"""A loaded OpenAI model spec: ``predict`` runs one request per row through the real ``openai``
client (so autolog traces every call), as MLflow's ``_OpenAIWrapper`` does."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping, Sequence
from string import Formatter
from typing import Any

import pandas as pd

from spanrun.errors import InvalidInputError, MissingDependencyError
from spanrun.evaluation._openai_spec import read_spec
from spanrun.evaluation._rows import DEFAULT_MAX_WORKERS, run_rows

__all__ = ["OpenAIModel", "as_frame", "load_model"]


def _fields(value: Any) -> set[str]:
    """The ``{placeholders}`` in a template value (strings inside lists and dicts too)."""
    if isinstance(value, str):
        try:
            return {name for _, name, _, _ in Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise InvalidInputError(f"Bad template {value!r}: {exc}") from None
    if isinstance(value, list):
        return set().union(*(_fields(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_fields(v) for v in value.values())) if value else set()
    return set()


def _fill(value: Any, args: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**args)
    if isinstance(value, list):
        return [_fill(v, args) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, args) for k, v in value.items()}
    return value


def as_frame(data: Any) -> pd.DataFrame:
    """``data`` (DataFrame, list of dicts, list of str, dict, str) as a DataFrame of rows."""
    frame: pd.DataFrame | None = None
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame()
    elif isinstance(data, str):
        frame = pd.DataFrame({"input": [data]})
    elif isinstance(data, Mapping):
        if data and all(isinstance(v, (list, tuple, pd.Series)) for v in data.values()):
            frame = pd.DataFrame({str(k): list(v) for k, v in data.items()})
        else:
            frame = pd.DataFrame([dict(data)])
    elif isinstance(data, Sequence) and data:
        if all(isinstance(r, Mapping) for r in data):
            frame = pd.DataFrame([dict(r) for r in data])
        elif all(isinstance(r, str) for r in data):
            frame = pd.DataFrame({"input": list(data)})
    if frame is None:
        raise InvalidInputError(
            "Model input must be a DataFrame, a list of dicts, a list of str or a dict, got "
            f"{type(data).__name__}{' (empty)' if isinstance(data, Sequence) else ''}"
        )
    return frame


class OpenAIModel:
    """An OpenAI model spec ready to run (what ``spanrun.pyfunc.load_model`` returns)."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        model_uri: str | None = None,
    ) -> None:
        spec = dict(spec)
        self.task: str = spec.pop("task")
        self.model: str = spec.pop("model")
        self.model_uri = model_uri
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.template: Any
        if self.task == "chat.completions":
            self.template = list(spec.pop("messages", None) or [])
            names = sorted(set(itertools.chain.from_iterable(_fields(m) for m in self.template)))
            if not names:  # as MLflow: the row's text becomes the user message
                self.template.append({"role": "user", "content": "{content}"})
                names = ["content"]
        elif self.task == "completions":
            self.template = spec.pop("prompt", None) or "{prompt}"
            names = sorted(_fields(self.template))
        else:
            self.template = None
            names = []
        self.variables: list[str] = names
        self.params: dict[str, Any] = spec
        self.max_workers = DEFAULT_MAX_WORKERS
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.model!r}, task={self.task!r}, uri={self.model_uri!r})"

    # -- inputs ----------------------------------------------------------------------------------
    def row_arguments(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """The template arguments of each row (MLflow's rule: one placeholder takes the single
        input column, or the first text column, whatever its name)."""
        if self.task == "embeddings":
            column = _first_text_column(frame)
            return [{"input": v} for v in frame[column].tolist()]
        if len(self.variables) == 1:
            (name,) = self.variables
            column = name if name in frame.columns else _first_text_column(frame)
            return [{name: v} for v in frame[column].tolist()]
        missing = [v for v in self.variables if v not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"The model's template needs the columns {self.variables}; missing {missing} "
                f"(the data has {list(map(str, frame.columns))})"
            )
        return [
            dict(zip(self.variables, row, strict=True))
            for row in frame[self.variables].itertuples(False)
        ]

    # -- calls -----------------------------------------------------------------------------------
    def client(self) -> Any:
        """One ``openai.OpenAI`` client (thread-safe), configured from the environment."""
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError:
                    raise MissingDependencyError(
                        "OpenAI models need the openai package: pip install 'spanrun[openai]'"
                    ) from None
                base_url = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
                self._client = openai.OpenAI(base_url=base_url or None)
            return self._client

    def predict_row(self, args: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> Any:
        """One request for one row's template arguments; the answer's text (or embedding)."""
        request = {**self.params, **(params or {})}
        client = self.client()
        if self.task == "chat.completions":
            reply = client.chat.completions.create(
                model=self.model, messages=_fill(self.template, args), **request
            )
            return reply.choices[0].message.content
        if self.task == "completions":
            reply = client.completions.create(
                model=self.model, prompt=_fill(self.template, args), **request
            )
            return reply.choices[0].text
        reply = client.embeddings.create(model=self.model, input=args["input"], **request)
        return list(reply.data[0].embedding)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> list[Any]:
        """One request per row (concurrently, row order kept); a list of answers."""
        rows = self.row_arguments(as_frame(data))
        done = run_rows(lambda i: self.predict_row(rows[i], params), len(rows),
                        max_workers=self.max_workers)  # fmt: skip
        return [value for value, _ in done]


def _first_text_column(frame: pd.DataFrame) -> Any:
    if len(frame) == 0:
        raise InvalidInputError("The model input has no rows")
    for column, value in frame.iloc[0].items():
        if isinstance(value, str):
            return column
    raise InvalidInputError(
        f"No text column in the model input (columns: {list(map(str, frame.columns))})"
    )


def load_model(
    model_uri: str, dst_path: str | None = None, model_config: Mapping[str, Any] | None = None
) -> OpenAIModel:
    """Load an OpenAI model spec from ``runs:/<run_id>/<path>``, its artifact URI or a local
    directory; ``model_config`` overrides its request params."""
    spec, metadata = read_spec(model_uri, dst_path)
    if model_config:
        spec.update(dict(model_config))
    return OpenAIModel(spec, metadata, model_uri)

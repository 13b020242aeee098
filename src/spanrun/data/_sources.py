"""Where a dataset came from, as MLflow's dataset sources describe it: a kind
(``source_type``) and a JSON-able dict.

``resolve_source(raw)`` follows ``mlflow.data``: ``http(s)://`` URLs are ``"http"`` sources
(``{"url": ...}``), local paths and ``file://`` URIs ``"local"`` ones (``{"uri": ...}``), other
URIs (``s3://``, ``gs://``, ...) a source of their scheme (``{"uri": ...}``), and no source
the code that made the dataset (``"code"``: the program's name and user, as MLflow's tags).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from typing import Any

from spanrun.core.vocabulary import SOURCE_NAME_TAG, SOURCE_TYPE_TAG, USER_TAG
from spanrun.errors import InvalidInputError

__all__ = ["DatasetSource", "resolve_source"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class DatasetSource:
    """A dataset's source: ``source_type`` (``"local"``, ``"http"``, ``"s3"``, ``"code"``,
    ...) and ``to_dict()``, its description (stored as JSON with the dataset)."""

    def __init__(self, source_type: str, description: dict[str, Any]) -> None:
        self._source_type = source_type
        self._description = description

    @property
    def source_type(self) -> str:
        return self._source_type

    def _get_source_type(self) -> str:  # MLflow's name, for code that calls it
        return self._source_type

    def to_dict(self) -> dict[str, Any]:
        return dict(self._description)

    def to_json(self) -> str:
        return json.dumps(self._description)

    def __repr__(self) -> str:
        return f"DatasetSource({self._source_type!r}, {self._description!r})"


def _text(value: str) -> str:
    # Paths with undecodable bytes hold lone surrogates, which no store can keep.
    return value.encode("utf-8", "replace").decode("utf-8")


def _code_source() -> DatasetSource:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    program = sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"
    tags = {USER_TAG: _text(user), SOURCE_NAME_TAG: _text(program), SOURCE_TYPE_TAG: "LOCAL"}
    return DatasetSource("code", {"tags": tags})


def resolve_source(raw: Any) -> DatasetSource:
    """The DatasetSource for ``from_pandas(source=...)``: a DatasetSource as it is, a path or
    URI string (or ``os.PathLike``) by its scheme, None for the calling code."""
    if raw is None:
        return _code_source()
    if isinstance(raw, DatasetSource):
        return raw
    if hasattr(raw, "to_json") and hasattr(raw, "_get_source_type"):  # one of mlflow.data's
        return DatasetSource(str(raw._get_source_type()), json.loads(raw.to_json()))
    if isinstance(raw, os.PathLike):
        raw = os.fspath(raw)
    if not isinstance(raw, str) or not raw:
        raise InvalidInputError(
            "A dataset source is a path, a URI or a spanrun.data.DatasetSource, got "
            f"{type(raw).__name__}: {raw!r:.80}"
        )
    raw = _text(raw)
    match = _SCHEME.match(raw)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        return DatasetSource("http", {"url": raw})
    if scheme in ("", "file"):
        return DatasetSource("local", {"uri": raw})
    return DatasetSource(scheme, {"uri": raw})

"""Checks on everything a user logs, with MLflow's limits and clear, typed errors.

Every check raises :class:`~spanrun.errors.InvalidInputError` (or a subclass) naming the key,
before anything reaches the store, so a bad value never half-writes a batch.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import posixpath
import re
import time
from collections.abc import Sequence
from typing import Any

from spanrun.core.entities import Metric, Param, RunTag
from spanrun.core.text import bad_character, describe_bad_character
from spanrun.errors import InvalidInputError, InvalidParamChangeError, UnsafePathError

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAGS_PER_BATCH",
    "MAX_TAG_VALUE_LENGTH",
    "TRUNCATE_ENV",
    "artifact_path",
    "batch",
    "batch_sizes",
    "key",
    "metric",
    "metric_value",
    "now_ms",
    "param",
    "step",
    "tag",
    "text",
    "timestamp",
]

_log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
TRUNCATE_ENV = "SPANRUN_TRUNCATE_LONG_VALUES"

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def text(what: str, value: str, allow_nul: bool = False) -> str:
    """``value`` unless it holds a NUL (unless ``allow_nul``) or a lone surrogate.

    Neither can be stored in every store (see :mod:`spanrun.core.text`), so both are refused
    here, the same way on every backend and before anything is written.
    """
    index = bad_character(value, allow_nul)
    if index is not None:
        raise InvalidInputError(f"{what} contains {describe_bad_character(value, index)}")
    return value


# Keys already found valid: logging loops repeat a handful of keys, so skip the regex for them.
_valid_keys: dict[str, None] = {}
_MAX_CACHED_KEYS = 4096


def key(kind: str, name: Any) -> str:
    """Check a param/metric/tag name: MLflow's character set, length and no path escapes."""
    if type(name) is str and name in _valid_keys:
        return name
    if not isinstance(name, str):
        raise InvalidInputError(f"{kind} key must be a string, got {type(name).__name__}: {name!r}")
    if not name:
        raise InvalidInputError(f"{kind} key must not be empty")
    if len(name) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"{kind} key {name[:40]!r}... is {len(name)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}"
        )
    if not _KEY_RE.match(name):
        text(f"{kind} key {name!r}", name)  # a clearer message for NUL and surrogates
        raise InvalidInputError(
            f"Invalid {kind} key {name!r}: keys may only contain letters, digits, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
        )
    # Keys become file-like names in some backends: they must not resolve to another name.
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidInputError(
            f"Invalid {kind} key {name!r}: it would resolve to another path ({norm!r}); "
            "remove '..', leading or doubled '/' and trailing '/'"
        )
    if len(_valid_keys) >= _MAX_CACHED_KEYS:
        _valid_keys.clear()
    _valid_keys[name] = None
    return name


def _truncation_allowed() -> bool:
    return os.environ.get(TRUNCATE_ENV, "").strip().lower() in ("1", "true", "yes")


def _bounded(kind: str, name: str, value: str, limit: int) -> str:
    text(f"{kind} {name!r} value", value)
    if len(value) <= limit:
        return value
    if _truncation_allowed():
        _log.warning(
            "spanrun: %s %r value of %d characters truncated to %d (%s is set)",
            kind,
            name,
            len(value),
            limit,
            TRUNCATE_ENV,
        )
        return value[:limit]
    raise InvalidInputError(
        f"{kind} {name!r} value is {len(value)} characters long; the limit is {limit}. "
        f"Shorten it, or set {TRUNCATE_ENV}=true to truncate long values"
    )


def param(name: Any, value: Any) -> Param:
    name = key("Param", name)
    return Param(name, _bounded("Param", name, str(value), MAX_PARAM_VALUE_LENGTH))


def tag(name: Any, value: Any) -> RunTag:
    name = key("Tag", name)
    return RunTag(name, _bounded("Tag", name, str(value), MAX_TAG_VALUE_LENGTH))


def metric_value(name: str, value: Any) -> float:
    # bool is an int subclass and numpy.bool_ is no Number: both are rejected, as in MLflow.
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise InvalidInputError(
            f"Metric {name!r} value must be a number, got {type(value).__name__}: {value!r}"
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError as exc:  # an int beyond the float range (about 1.8e308)
        raise InvalidInputError(
            f"Metric {name!r} value {str(value)[:40]}... is too large for a 64-bit float; "
            "log float('inf') or a scaled value instead"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"Metric {name!r} value {value!r} is not a real number") from exc


def step(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(
            f"Metric {name!r} step must be an integer, got {type(value).__name__}: {value!r}"
        )
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise InvalidInputError(f"Metric {name!r} step {number} is outside the 64-bit range")
    return number


def timestamp(name: str, value: Any) -> int:
    """A timestamp in milliseconds since the epoch (now when None)."""
    if value is None:
        return now_ms()
    # Checked without narrowing ``value``: typeshed's numbers.Real has no __int__, although
    # every registered Real (float, Fraction, numpy floats) converts with int().
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not math.isfinite(value):
        raise InvalidInputError(
            f"Metric {name!r} timestamp must be an integer number of milliseconds, got {value!r}"
        )
    return int(value)


def metric(name: Any, value: Any, ts: Any = None, step_: Any = None) -> Metric:
    name = key("Metric", name)
    # Fast paths for plain float/int values and steps: this runs once per logged value.
    kind = type(value)
    try:
        number = float(value) if kind is float or kind is int else metric_value(name, value)
    except OverflowError:  # an int too large for a float: the typed error
        number = metric_value(name, value)
    if ts is None:
        ts = time.time_ns() // 1_000_000
    elif type(ts) is not int:
        ts = timestamp(name, ts)
    if step_ is None:
        step_ = 0
    elif type(step_) is not int or not _INT64_MIN <= step_ <= _INT64_MAX:
        step_ = step(name, step_)
    return Metric(name, number, ts, step_)


def batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> tuple[list[Metric], list[Param], list[RunTag]]:
    """Check a log_batch call: sizes, every entity, and params repeated inside the batch."""
    batch_sizes(len(metrics), len(params), len(tags))
    checked_metrics = [_entity_metric(m) for m in metrics]
    checked_params: dict[str, Param] = {}
    for p in params:
        if not isinstance(p, Param):
            raise InvalidInputError(f"log_batch params must be Param objects, got {p!r}")
        checked = param(p.key, p.value)
        seen = checked_params.get(checked.key)
        if seen is not None and seen.value != checked.value:
            raise InvalidParamChangeError(
                f"Param {checked.key!r} appears twice in one batch with different values: "
                f"{seen.value!r} and {checked.value!r}"
            )
        checked_params[checked.key] = checked
    checked_tags: dict[str, RunTag] = {}
    for t in tags:
        if not isinstance(t, RunTag):
            raise InvalidInputError(f"log_batch tags must be RunTag objects, got {t!r}")
        checked_tag = tag(t.key, t.value)
        checked_tags[checked_tag.key] = checked_tag  # the last value of a repeated tag wins
    return checked_metrics, list(checked_params.values()), list(checked_tags.values())


def batch_sizes(metrics: int, params: int, tags: int) -> None:
    """Check the per-call limits: 1000 metrics, 100 params, 100 tags."""
    for what, count, limit in (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_PER_BATCH),
        ("tags", tags, MAX_TAGS_PER_BATCH),
    ):
        if count > limit:
            raise InvalidInputError(
                f"A batch may hold at most {limit} {what}; got {count}. Split it into several calls"
            )


def _entity_metric(m: Any) -> Metric:
    if not isinstance(m, Metric):
        raise InvalidInputError(f"log_batch metrics must be Metric objects, got {m!r}")
    return metric(m.key, m.value, m.timestamp, m.step)


def artifact_path(path: Any, what: str = "artifact path") -> str:
    """A relative, '/'-separated path that stays inside the run's artifact root."""
    if not isinstance(path, str):
        raise InvalidInputError(f"The {what} must be a string, got {type(path).__name__}")
    if "\x00" in path:
        raise UnsafePathError(f"The {what} {path!r} contains a NUL character")
    text(f"The {what} {path!r}", path)  # a lone surrogate cannot be a file name
    posix = path.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise UnsafePathError(f"The {what} {path!r} must be relative to the run's artifact root")
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"The {what} {path!r} escapes the run's artifact root ('..')")
    return "/".join(parts)

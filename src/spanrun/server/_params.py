"""The parameters of one API request, read the way MLflow's server reads them.

A GET takes its parameters from the query string (a repeated field may repeat: ``?run_ids=a&
run_ids=b``); other methods from a JSON object body (an empty body is ``{}``; a body that is a
JSON string holding the object, as old MLflow clients send, is decoded once more). Every getter
checks the type and raises :class:`~spanrun.errors.InvalidInputError` naming the parameter, so a
malformed request is a 400, never a 500. Numbers follow protobuf's JSON mapping: 64-bit integers
may come as strings, doubles as ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

from spanrun.core.text import bad_character, describe_bad_character
from spanrun.errors import InvalidInputError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "Params",
    "checked_text",
    "key_values",
    "parse_json_object",
    "to_float",
    "to_int",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _invalid(name: str, value: Any, expected: str) -> InvalidInputError:
    shown = repr(value)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return InvalidInputError(
        f"Invalid value {shown} for parameter '{name}' supplied: expected {expected}"
    )


#: Deeper JSON is refused: no request of the API nests more than a few levels (span
#: attributes are flat in OpenTelemetry), and deep values would exhaust recursion later.
MAX_JSON_DEPTH = 32


def _too_deep(value: Any, limit: int) -> bool:
    """True when ``value`` nests lists/objects more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body (``{}`` when empty); InvalidInputError otherwise."""
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # The stdlib parser also takes NaN and Infinity literals, which Python clients send.
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidInputError("The request body is not valid JSON") from None
    if isinstance(value, str):  # double-encoded by an old MLflow client
        return parse_json_object(value.encode("utf-8", "surrogatepass"))
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"The request body must be a JSON object, got {type(value).__name__}"
        )
    if _too_deep(value, MAX_JSON_DEPTH):
        raise InvalidInputError(f"The request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def checked_text(name: str, value: str) -> str:
    """``value`` if a store can keep it (no NUL, no lone surrogate), else InvalidInputError."""
    index = bad_character(value)
    if index is not None:
        raise InvalidInputError(f"{name} contains {describe_bad_character(value, index)}")
    return value


def to_int(name: str, value: Any) -> int:
    """A 64-bit integer from a JSON number or a decimal string."""
    if isinstance(value, bool):
        raise _invalid(name, value, "an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > 20:
            raise _invalid(name, value, "an integer")
        value = int(text)
    if not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise _invalid(name, value, "a 64-bit integer")
    return value


def to_float(name: str, value: Any) -> float:
    """A double from a JSON number, a numeric string, or "NaN"/"Infinity"/"-Infinity"."""
    if isinstance(value, bool):
        raise _invalid(name, value, "a number")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            raise _invalid(name, value, "a number within the range of a double") from None
    if isinstance(value, str):
        special = _SPECIAL_FLOATS.get(value)
        if special is not None:
            return special
        try:
            number = float(value)
        except ValueError:
            raise _invalid(name, value, "a number") from None
        if math.isfinite(number):
            return number
    raise _invalid(name, value, "a number")


class Params:
    """Typed access to a request's parameters."""

    def __init__(
        self, values: Mapping[str, Any], lists: Mapping[str, list[str]] | None = None
    ) -> None:
        self._values = values
        self._lists = lists  # the query string's repeated values (GET), else None

    @classmethod
    def from_query(cls, items: list[tuple[str, str]]) -> Params:
        values: dict[str, Any] = {}
        lists: dict[str, list[str]] = {}
        for key, value in items:
            values.setdefault(key, value)  # the first one, as Flask's args.get
            lists.setdefault(key, []).append(value)
        return cls(values, lists)

    def has(self, name: str) -> bool:
        return self._values.get(name) is not None

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._values.get(name)
        if value is None:
            if required:
                raise InvalidInputError(f"Missing value for required parameter '{name}'.")
            if default is None:
                raise InvalidInputError(f"Missing value for parameter '{name}'.")
            return default
        if not isinstance(value, str):
            raise _invalid(name, value, "a string")
        return value

    def optional_string(self, name: str) -> str | None:
        return self.string(name) if self.has(name) else None

    def required(self, name: str) -> str:
        """A required, non-empty string."""
        value = self.string(name, required=True)
        if not value:
            raise InvalidInputError(f"Missing value for required parameter '{name}'.")
        return value

    def run_id(self) -> str:
        """``run_id``, or MLflow's deprecated ``run_uuid``."""
        if not self.has("run_id") and self.has("run_uuid"):
            return self.required("run_uuid")
        return self.required("run_id")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self._values.get(name)
        if value is None:
            return default
        return to_int(name, value)

    def string_list(self, name: str) -> list[str] | None:
        """A list of strings, None when absent."""
        if self._lists is not None:
            found = self._lists.get(name)
            return None if found is None else list(found)
        value = self._values.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name, value, "a list of strings")
        return value

    def objects(self, name: str) -> list[dict[str, Any]]:
        """A list of JSON objects (``[]`` when absent)."""
        value = self._values.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _invalid(name, value, "a list of objects")
        return value


def key_values(name: str, items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``[{"key": k, "value": v}, ...]`` as pairs; a missing value is ``""`` (proto default)."""
    pairs = []
    for i, item in enumerate(items):
        key = item.get("key")
        value = item.get("value", "")
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"Missing value for required parameter '{name}[{i}].key'.")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _invalid(f"{name}[{i}].value", value, "a string")
        pairs.append((key, value))
    return pairs

"""The user's price table: model -> USD per million input/output tokens.

``autolog(prices=...)`` takes a dict ``{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}`` or the
path of a JSON or YAML file holding one. spanrun ships no prices (they change); a call whose model
has no price gets no ``llm.cost_usd``.

Lookup: the exact model name first, then the longest table key that the model name extends with
a version suffix made of digits and dashes, so ``gpt-4o-mini-2024-07-18`` uses ``gpt-4o-mini``
(but ``gpt-4o-mini`` never uses ``gpt-4o``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spanrun.errors import InvalidInputError

__all__ = ["PriceTable", "PricesArg"]

PricesArg = Mapping[str, Mapping[str, float]] | str | os.PathLike[str] | None
_VERSION_SUFFIX = re.compile(r"-[\d][\d-]*")


class PriceTable:
    """Validated prices; :meth:`cost` returns USD or None when the model is unknown."""

    def __init__(self, prices: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self._prices: dict[str, tuple[float, float]] = {}
        for model, entry in (prices or {}).items():
            if not isinstance(entry, Mapping):
                raise InvalidInputError(
                    f"price for model {model!r} must be a mapping with 'input' and 'output' "
                    f"(USD per 1M tokens), got {entry!r}"
                )
            self._prices[str(model)] = (
                _price(model, entry, "input"),
                _price(model, entry, "output"),
            )
        self._cache: dict[str, tuple[float, float] | None] = {}

    @classmethod
    def load(cls, prices: PricesArg) -> PriceTable:
        """Build from a dict, a JSON/YAML file path, or None (empty table)."""
        if prices is None or isinstance(prices, Mapping):
            return cls(prices)
        path = Path(os.fspath(prices))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read the price file {str(path)!r}: {exc}") from None
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:
            raise InvalidInputError(f"price file {str(path)!r} does not parse: {exc}") from None
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"price file {str(path)!r} must hold a mapping of models")
        return cls(data)

    def __bool__(self) -> bool:
        return bool(self._prices)

    def _lookup(self, model: str) -> tuple[float, float] | None:
        if model in self._cache:
            return self._cache[model]
        found = self._prices.get(model)
        if found is None:
            best = ""
            for key in self._prices:
                if (
                    len(key) > len(best)
                    and model.startswith(key)
                    and _VERSION_SUFFIX.fullmatch(model[len(key) :])
                ):
                    best = key
            found = self._prices.get(best) if best else None
        if len(self._cache) < 4096:
            self._cache[model] = found
        return found

    def cost(self, model: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """USD for one call, or None when the model has no price or no token counts."""
        if not model or (input_tokens is None and output_tokens is None):
            return None
        price = self._lookup(model)
        if price is None:
            return None
        return ((input_tokens or 0) * price[0] + (output_tokens or 0) * price[1]) / 1_000_000


def _price(model: Any, entry: Mapping[str, Any], key: str) -> float:
    value = entry.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(
            f"price {key!r} for model {model!r} must be a finite number (USD per 1M tokens), "
            f"got {value!r}"
        )
    if value < 0:
        raise InvalidInputError(f"price {key!r} for model {model!r} must not be negative")
    return float(value)

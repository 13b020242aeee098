"""Reading a judge's answer: a score and a justification, as MLflow's parser accepts them.

Accepted: a JSON object ``{"score": ..., "justification": ...}`` (keys in any case), also inside
a code fence or surrounded by text; else MLflow's two-line ``score: N`` /
``justification: ...`` format.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["parse_verdict"]

_LINES = re.compile(r"score\s*:\s*(\d+(?:\.\d+)?)\s*,?\s*justification\s*:\s*(.+)", re.I | re.S)
_MAX_RAW = 500  # of a bad answer, quoted in the row's justification


def _objects(text: str) -> list[Any]:
    """JSON values found in ``text``: the whole text, else each ``{...}`` it contains."""
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    found = []
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            value, _ = decoder.raw_decode(text, start)
            found.append(value)
        except ValueError:
            pass
        start = text.find("{", start + 1)
    return found


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return int(value) if float(value).is_integer() else float(value)
    return None


def parse_verdict(text: str | None) -> tuple[float | None, str]:
    """(score, justification); (None, the reason) when the answer has no usable score."""
    if not text or not text.strip():
        return None, "Failed to extract score and justification: the judge answered nothing."
    for value in _objects(text.strip()):
        if isinstance(value, dict):
            fields = {str(k).lower(): v for k, v in value.items()}
            score = _score(fields.get("score"))
            justification = fields.get("justification")
            if score is not None and isinstance(justification, str):
                return score, justification
    match = _LINES.search(text)
    if match:
        return _score(match.group(1)), match.group(2).strip()
    raw = text if len(text) <= _MAX_RAW else text[:_MAX_RAW] + "..."
    return None, f"Failed to extract score and justification. Raw output: {raw}"

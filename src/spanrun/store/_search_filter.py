"""Parser of the search grammar: filter strings and order_by clauses.

Grammar (keywords are case-insensitive)::

    filter     := clause ("AND" clause)*
    clause     := identifier operator value
    identifier := prefix "." key | attribute
    prefix     := metrics | metric | params | param | tags | tag | attributes | attribute | run
                | datasets | dataset        (runs only: keys name, digest, context; not sortable)
    key        := bare-name | `back quoted` | "double quoted"
    operator   := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value      := number | 'string' | "string" | "(" string ("," string)* ")"
    order_by   := identifier ["ASC" | "DESC"]

Quotes inside strings are written twice (``'it''s'``). In LIKE/ILIKE patterns ``%`` and ``_``
are the wildcards and there is no escape character (a backslash is itself). The parser only
builds a list of :class:`Comparison`; the SQL is built elsewhere, always with bound parameters.

Limits (each refused with an InvalidFilterError that names it): at most ``MAX_FILTER_CLAUSES``
clauses and ``MAX_FILTER_VALUES`` values (an IN list counts each item) in a filter, at most
``MAX_ORDER_BY_KEYS`` order_by keys; no NUL character or lone surrogate anywhere, since no value
a store keeps can contain one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from spanrun.core.text import bad_character, describe_bad_character
from spanrun.errors import InvalidFilterError

__all__ = [
    "MAX_FILTER_CLAUSES",
    "MAX_FILTER_VALUES",
    "MAX_ORDER_BY_KEYS",
    "Comparison",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]

# Far above what people write, and within what both databases take in one statement: SQLite
# allows 32,766 bound values, and each clause binds its key and value(s).
MAX_FILTER_CLAUSES = 1000
MAX_FILTER_VALUES = 10_000
# Each order_by key on a metric/param/tag is one more table in the join (SQLite allows 64).
MAX_ORDER_BY_KEYS = 50

Entity = Literal["run", "experiment"]
Kind = Literal["metric", "param", "tag", "attribute", "dataset"]

_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "datasets": "dataset",
    "dataset": "dataset",
}
# A run's dataset inputs: ``datasets.context`` is the input tag mlflow.data.context (MLflow's).
_DATASET_KEYS = ("name", "digest", "context")

# attribute name -> (canonical name, numeric?)
_RUN_ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "run_id": ("run_id", False),
    "run_uuid": ("run_id", False),
    "run_name": ("run_name", False),
    "status": ("status", False),
    "user_id": ("user_id", False),
    "artifact_uri": ("artifact_uri", False),
    "lifecycle_stage": ("lifecycle_stage", False),
    "start_time": ("start_time", True),
    "created": ("start_time", True),  # MLflow's alias
    "end_time": ("end_time", True),
}
_EXPERIMENT_ATTRIBUTES: dict[str, tuple[str, bool]] = {
    "name": ("name", False),
    "experiment_id": ("experiment_id", False),
    "lifecycle_stage": ("lifecycle_stage", False),
    "creation_time": ("creation_time", True),
    "last_update_time": ("last_update_time", True),
}

_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<backquoted>`[^`]*`)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))
  | (?P<op>!=|<>|<=|>=|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][\w.\-/:]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    type: str  # backquoted, string, number, op, punct, word, end
    text: str
    position: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Comparison:
    """One ``kind.key op value`` clause of a filter."""

    kind: Kind
    key: str
    op: str
    value: float | str | tuple[str, ...]
    position: int


@dataclass(frozen=True)
class OrderKey:
    """One order_by clause."""

    kind: Kind
    key: str
    ascending: bool


def _shown(text: str) -> str:
    """The expression as quoted in an error message (a long one cut short)."""
    return repr(text) if len(text) <= 200 else repr(text[:200]) + f"... ({len(text)} characters)"


def _error(text: str, position: int, message: str) -> InvalidFilterError:
    near = text[position : position + 20] or "end of input"
    return InvalidFilterError(
        f"Invalid search expression {_shown(text)}: {message} at position {position} "
        f"(near {near!r})",
        position=position,
    )


def _check_characters(text: str) -> None:
    index = bad_character(text)
    if index is not None:
        raise InvalidFilterError(
            f"Invalid search expression {_shown(text)}: it contains "
            + describe_bad_character(text, index),
            position=index,
        )


def _tokenize(text: str) -> list[_Token]:
    _check_characters(text)
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    quote = token.text[0]
    return token.text[1:-1].replace(quote * 2, quote)


class _Parser:
    def __init__(self, text: str, entity: Entity) -> None:
        self.text = text
        self.entity = entity
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.type != "end":
            self.i += 1
        return tok

    def fail(self, message: str, token: _Token | None = None) -> InvalidFilterError:
        return _error(self.text, (token or self.tok).position, message)

    def _attributes(self) -> dict[str, tuple[str, bool]]:
        return _RUN_ATTRIBUTES if self.entity == "run" else _EXPERIMENT_ATTRIBUTES

    # identifier := prefix "." key | attribute
    def identifier(self) -> tuple[Kind, str, bool, _Token]:
        """Return (kind, key, numeric, first token)."""
        start = self.tok
        if start.type != "word":
            raise self.fail("expected an identifier such as metrics.name or params.name")
        self.advance()
        prefix, dot, key = start.text.partition(".")
        if not dot:
            attr = self._attributes().get(start.text.lower())
            if attr is None:
                raise self.fail(
                    f"unknown identifier {start.text!r} (use a prefix: "
                    + self._prefix_hint()
                    + ")",
                    start,
                )
            return "attribute", attr[0], attr[1], start
        kind = _PREFIXES.get(prefix.lower())
        if kind is None or (self.entity == "experiment" and kind not in ("tag", "attribute")):
            raise self.fail(f"unknown prefix {prefix!r} (expected {self._prefix_hint()})", start)
        if not key:
            quoted = self.tok
            if quoted.type == "backquoted" or (
                quoted.type == "string" and quoted.text.startswith('"')
            ):
                self.advance()
                key = _unquote(quoted)
            else:
                raise self.fail("expected a key after the prefix", quoted)
            if not key:
                raise self.fail("empty key", quoted)
        if kind == "attribute":
            attr = self._attributes().get(key.lower())
            if attr is None:
                raise self.fail(
                    f"unknown attribute {key!r} (expected one of "
                    + ", ".join(sorted(self._attributes()))
                    + ")",
                    start,
                )
            return "attribute", attr[0], attr[1], start
        if kind == "dataset":
            if key.lower() not in _DATASET_KEYS:
                raise self.fail(
                    f"unknown dataset field {key!r} (expected one of {', '.join(_DATASET_KEYS)})",
                    start,
                )
            key = key.lower()
        return kind, key, kind == "metric", start

    def _prefix_hint(self) -> str:
        if self.entity == "experiment":
            return "tags., attributes. or an attribute name"
        return "metrics., params., tags., attributes. or datasets."

    def operator(self) -> tuple[str, _Token]:
        tok = self.tok
        if tok.type == "op":
            self.advance()
            return {"==": "=", "<>": "!="}.get(tok.text, tok.text), tok
        if tok.type == "word" and tok.upper in ("LIKE", "ILIKE", "IN"):
            self.advance()
            return tok.upper, tok
        if tok.type == "word" and tok.upper == "NOT":
            self.advance()
            if self.tok.type == "word" and self.tok.upper == "IN":
                self.advance()
                return "NOT IN", tok
            raise self.fail("expected IN after NOT")
        raise self.fail("expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)")

    def value(self, op: str, numeric: bool) -> float | str | tuple[str, ...]:
        tok = self.tok
        if op in ("IN", "NOT IN"):
            if tok.type != "punct" or tok.text != "(":
                raise self.fail(f"expected a parenthesised list of strings after {op}")
            self.advance()
            items: list[str] = []
            while True:
                item = self.tok
                if item.type == "string":
                    items.append(_unquote(item))
                elif item.type == "number":
                    items.append(item.text)
                else:
                    raise self.fail("expected a quoted string in the list")
                self.advance()
                sep = self.advance()
                if sep.type == "punct" and sep.text == ")":
                    return tuple(items)
                if not (sep.type == "punct" and sep.text == ","):
                    raise self.fail("expected ',' or ')' in the list", sep)
        if numeric:
            if tok.type != "number":
                raise self.fail("expected a number")
            self.advance()
            return float(tok.text)
        if tok.type == "string":
            self.advance()
            return _unquote(tok)
        if tok.type == "number":  # params.batch_size = 32 means the string '32'
            self.advance()
            return tok.text
        raise self.fail("expected a quoted string value")

    def clause(self) -> Comparison:
        kind, key, numeric, start = self.identifier()
        op, op_token = self.operator()
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            what = "numeric" if numeric else "string"
            raise self.fail(
                f"operator {op} is not allowed on {what} {kind} {key!r} "
                f"(allowed: {', '.join(sorted(allowed))})",
                op_token,
            )
        value = self.value(op, numeric)
        return Comparison(kind, key, op, value, start.position)

    def filter(self) -> list[Comparison]:
        clauses: list[Comparison] = []
        values = 0
        while self.tok.type != "end":
            if clauses:
                if not (self.tok.type == "word" and self.tok.upper == "AND"):
                    if self.tok.type == "word" and self.tok.upper == "OR":
                        raise self.fail("OR is not supported; clauses can only be joined with AND")
                    raise self.fail("expected AND or the end of the filter")
                self.advance()
                if len(clauses) == MAX_FILTER_CLAUSES:
                    raise self.fail(
                        f"too many clauses (at most {MAX_FILTER_CLAUSES}); split the search or "
                        "use IN (...) for several values of one key"
                    )
            clauses.append(self.clause())
            values += _value_count(clauses[-1])
            if values > MAX_FILTER_VALUES:
                raise self.fail(
                    f"too many values (at most {MAX_FILTER_VALUES}, an IN list counting each "
                    "item); split the search",
                    self.tokens[self.i - 1],
                )
        return clauses

    def order_key(self) -> OrderKey:
        kind, key, _numeric, start = self.identifier()
        if kind == "dataset":
            raise self.fail("runs cannot be ordered by their datasets", start)
        ascending = True
        if self.tok.type == "word" and self.tok.upper in ("ASC", "DESC"):
            ascending = self.advance().upper == "ASC"
        if self.tok.type != "end":
            raise self.fail("expected ASC, DESC or the end of the order_by clause")
        return OrderKey(kind, key, ascending)


def _value_count(comparison: Comparison) -> int:
    return len(comparison.value) if isinstance(comparison.value, tuple) else 1


def parse_filter(text: str | None, entity: Entity = "run") -> list[Comparison]:
    """Parse a filter string; raise InvalidFilterError (with ``.position``) when it is invalid."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidFilterError(f"filter must be a string, got {type(text).__name__}")
    if not text.strip():
        return []
    return _Parser(text, entity).filter()


def parse_order_by(clauses: Sequence[str] | None, entity: Entity = "run") -> list[OrderKey]:
    """Parse order_by clauses such as ``["metrics.acc DESC", "params.lr"]``."""
    if not clauses:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    if not isinstance(clauses, Sequence):
        raise InvalidFilterError(f"order_by must be a list of strings, got {clauses!r}")
    if len(clauses) > MAX_ORDER_BY_KEYS:
        raise InvalidFilterError(
            f"order_by has {len(clauses)} keys; at most {MAX_ORDER_BY_KEYS} are allowed"
        )
    keys = []
    for clause in clauses:
        if not isinstance(clause, str) or not clause.strip():
            raise InvalidFilterError(f"Invalid order_by clause {clause!r}")
        keys.append(_Parser(clause, entity).order_key())
    return keys

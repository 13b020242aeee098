"""Turn parsed search clauses into SQLAlchemy expressions (always bound parameters)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store import _models as m
from spanrun.store._search_filter import Comparison, OrderKey
from spanrun.tracking.entities import LifecycleStage, ViewType

__all__ = [
    "MAX_RESULTS_LIMIT",
    "check_max_results",
    "compare",
    "decode_page_token",
    "encode_page_token",
    "lifecycle_condition",
    "run_search_query",
]

MAX_RESULTS_LIMIT = 50_000


def _like_to_glob(pattern: str) -> str:
    # SQLite's LIKE ignores case; GLOB is case-sensitive like LIKE on every other database.
    out = []
    for ch in pattern:
        if ch in "[*?":
            out.append(f"[{ch}]")
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def compare(column: Any, op: str, value: Any, dialect: str) -> sa.ColumnElement[bool]:
    """``column <op> value`` as a SQL expression with bound parameters."""
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "LIKE":
        if dialect == "sqlite":
            return column.op("GLOB")(_like_to_glob(value))
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidFilterError(f"Unsupported operator {op!r}")  # parser prevents this


def lifecycle_condition(column: Any, view_type: ViewType) -> sa.ColumnElement[bool] | None:
    try:
        view_type = ViewType(view_type)
    except ValueError:
        raise InvalidInputError(f"Invalid view type {view_type!r}") from None
    if view_type == ViewType.ACTIVE_ONLY:
        return column == LifecycleStage.ACTIVE.value
    if view_type == ViewType.DELETED_ONLY:
        return column == LifecycleStage.DELETED.value
    return None


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInputError(f"Invalid page token {token!r}") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"Invalid page token {token!r}")
    return offset


def check_max_results(max_results: int) -> None:
    if not isinstance(max_results, int) or not 0 < max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInputError(
            f"max_results must be an integer between 1 and {MAX_RESULTS_LIMIT}, got {max_results!r}"
        )


_KEYED_TABLES = {"metric": m.latest_metrics, "param": m.params, "tag": m.tags}


def run_search_query(
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    view_type: ViewType,
    order_keys: Sequence[OrderKey],
    offset: int,
    limit: int,
    dialect: str,
) -> sa.Select[Any]:
    """SELECT of the matching runs' rows, ordered and paged.

    Each metric/param/tag clause is an inner join on that key (runs lacking the key never
    match); each order_by key is an outer join, with runs lacking it sorted last.
    """
    runs = m.runs
    from_: Any = runs
    conditions: list[sa.ColumnElement[bool]] = [runs.c.experiment_id.in_(list(experiment_ids))]
    stage = lifecycle_condition(runs.c.lifecycle_stage, view_type)
    if stage is not None:
        conditions.append(stage)
    for i, comp in enumerate(comparisons):
        if comp.kind == "attribute":
            conditions.append(compare(runs.c[comp.key], comp.op, comp.value, dialect))
            continue
        alias = _KEYED_TABLES[comp.kind].alias(f"f{i}")
        on = sa.and_(
            alias.c.run_id == runs.c.run_id,
            alias.c.key == comp.key,
            compare(alias.c.value, comp.op, comp.value, dialect),
        )
        from_ = from_.join(alias, on)
    order: list[Any] = []
    for i, key in enumerate(order_keys):
        if key.kind == "attribute":
            column: Any = runs.c[key.key]
        else:
            alias = _KEYED_TABLES[key.kind].alias(f"o{i}")
            from_ = from_.outerjoin(
                alias, sa.and_(alias.c.run_id == runs.c.run_id, alias.c.key == key.key)
            )
            column = alias.c.value
            if key.kind == "metric":
                # Numbers, then NaN (stored as a NULL value with is_nan), then runs without it.
                order.append(alias.c.is_nan.asc().nulls_last())
        # NULLS LAST (rather than an "IS NULL" sort key) lets the database use its indexes.
        order.append((column.asc() if key.ascending else column.desc()).nulls_last())
    order += [runs.c.start_time.desc().nulls_last(), runs.c.run_id]
    return (
        sa.select(runs)
        .select_from(from_)
        .where(*conditions)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )

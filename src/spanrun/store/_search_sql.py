"""Turn parsed search clauses into SQLAlchemy expressions (always bound parameters)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import LifecycleStage, ViewType
from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store import _models as m
from spanrun.store._inputs import runs_using_datasets
from spanrun.store._run_load import RUN_COLUMNS
from spanrun.store._search_filter import Comparison, OrderKey

__all__ = [
    "MAX_RESULTS_LIMIT",
    "PAGE_LIMIT",
    "PAGE_OFFSET",
    "all_of",
    "check_max_results",
    "compare",
    "decode_page_token",
    "encode_page_token",
    "lifecycle_condition",
    "opaque",
    "run_count_query",
    "run_search_query",
]

MAX_RESULTS_LIMIT = 50_000
# Metric/param/tag clauses of a run filter that become joins; the rest become IN subqueries.
# PostgreSQL reorders at most 8 joined tables (join_collapse_limit) anyway.
JOINED_CLAUSES = 8
_FLAT_CONDITIONS = 64


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
    """``column <op> value`` as a SQL expression with bound parameters.

    In LIKE and ILIKE patterns only ``%`` and ``_`` are special: a backslash is an ordinary
    character on every store (PostgreSQL would otherwise take it as an escape and refuse a
    pattern ending in one).
    """
    condition: sa.ColumnElement[bool] = _compare(column, op, value, dialect)
    return condition


def _compare(column: Any, op: str, value: Any, dialect: str) -> Any:
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
        return column.like(value, escape="")
    if op == "ILIKE":
        if dialect == "sqlite":
            return column.ilike(value)  # lower(x) LIKE lower(y): SQLite has no escape character
        return column.ilike(value, escape="")
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidFilterError(f"Unsupported operator {op!r}")  # parser prevents this


def lifecycle_condition(column: Any, view_type: ViewType) -> sa.ColumnElement[bool] | None:
    condition: sa.ColumnElement[bool] | None = _lifecycle_condition(column, view_type)
    return condition


def _lifecycle_condition(column: Any, view_type: ViewType) -> Any:
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
    """One page's size: 1 to 50,000, as MLflow's stores allow."""
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 0 < max_results <= MAX_RESULTS_LIMIT
    ):
        raise InvalidInputError(
            f"Invalid value {max_results!r} for parameter 'max_results': it must be an integer "
            f"between 1 and {MAX_RESULTS_LIMIT}"
        )


def all_of(conditions: Sequence[sa.ColumnElement[bool]]) -> list[sa.ColumnElement[bool]]:
    """Terms for ``.where(*terms)`` meaning ``c1 AND c2 AND ...``.

    A short list is returned as it is. SQLite parses a chain of n ANDs into a tree n deep and
    refuses trees deeper than 1,000, so a long one becomes two :func:`opaque` halves, each split
    the same way: the depth stays near log2(n).
    """
    if len(conditions) <= _FLAT_CONDITIONS:
        return list(conditions)
    middle = len(conditions) // 2
    return [opaque(conditions[:middle]), opaque(conditions[middle:])]


def opaque(conditions: Sequence[sa.ColumnElement[bool]]) -> sa.ColumnElement[bool]:
    """``(c1 AND c2 ...) IS TRUE``: one term the planner takes as it is.

    In a WHERE clause of ANDed terms it means the same as ``c1 AND c2 ...``; unlike plain
    parentheses, SQLAlchemy does not flatten it into the surrounding AND. PostgreSQL turns each
    top-level ``IN (subquery)`` into a semi-join and plans them all as one join problem (seconds
    at 50 subqueries); inside this term each subquery runs once into a hash table instead.
    """
    return sa.and_(*all_of(conditions)).is_(sa.true())


_KEYED_TABLES = {"metric": m.latest_metrics, "param": m.params, "tag": m.tags}


def _filtered(
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    view_type: ViewType,
    dialect: str,
) -> tuple[Any, list[sa.ColumnElement[bool]]]:
    """The FROM (runs and the filter's joins) and WHERE terms of a run search."""
    runs = m.runs
    from_: Any = runs
    conditions: list[sa.ColumnElement[bool]] = [runs.c.experiment_id.in_(list(experiment_ids))]
    stage = lifecycle_condition(runs.c.lifecycle_stage, view_type)
    if stage is not None:
        conditions.append(stage)
    joined = 0
    subqueries: list[sa.ColumnElement[bool]] = []
    for i, comp in enumerate(comparisons):
        if comp.kind == "attribute":
            conditions.append(compare(runs.c[comp.key], comp.op, comp.value, dialect))
            continue
        if comp.kind == "dataset":  # runs with any dataset input that matches
            matches = functools.partial(compare, op=comp.op, value=comp.value, dialect=dialect)
            subqueries.append(runs.c.run_id.in_(runs_using_datasets(comp.key, matches)))
            continue
        table = _KEYED_TABLES[comp.kind]
        if joined < JOINED_CLAUSES:
            joined += 1
            alias = table.alias(f"f{i}")
            on = sa.and_(
                alias.c.run_id == runs.c.run_id,
                alias.c.key == comp.key,
                compare(alias.c.value, comp.op, comp.value, dialect),
            )
            from_ = from_.join(alias, on)
            continue
        matching = sa.select(table.c.run_id).where(
            table.c.key == comp.key, compare(table.c.value, comp.op, comp.value, dialect)
        )
        subqueries.append(runs.c.run_id.in_(matching))
    if subqueries:
        conditions.append(opaque(subqueries))
    return from_, conditions


def run_count_query(
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    view_type: ViewType,
    dialect: str,
) -> sa.Select[Any]:
    """``COUNT(*)`` of the runs :func:`run_search_query` finds (all pages)."""
    from_, conditions = _filtered(experiment_ids, comparisons, view_type, dialect)
    return sa.select(sa.func.count()).select_from(from_).where(*all_of(conditions))


#: The bound parameters that page :func:`run_search_query`'s statement.
PAGE_OFFSET = "page_offset"
PAGE_LIMIT = "page_limit"
# Statements of at most this many filter values are cached (a UI or client repeats its search
# page after page); bigger ones are rare and would make the cache heavy.
_CACHED_VALUES = 64


def run_search_query(
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    view_type: ViewType,
    order_keys: Sequence[OrderKey],
    dialect: str,
) -> sa.Select[Any]:
    """SELECT of the matching runs' :data:`RUN_COLUMNS`, ordered, paged by the bound parameters
    :data:`PAGE_OFFSET` and :data:`PAGE_LIMIT`.

    The first ``JOINED_CLAUSES`` metric/param/tag clauses are each an inner join on that key
    (runs lacking the key never match): the planners order those joins best, so the usual
    filters of a few clauses run as fast as can be. Further clauses are each an
    ``run_id IN (subquery)``, together in one :func:`opaque` term: any number of clauses stays
    within SQLite's 64-table join limit and PostgreSQL's planner does not have to order them.
    Each order_by key is an outer join, with runs lacking it sorted last.

    The statement depends only on the search, not on the page: the same search is built once
    (and SQLAlchemy's compiled form and cache key with it), however often it is paged.
    """
    try:
        view_type = ViewType(view_type)
    except ValueError:
        raise InvalidInputError(f"Invalid view type {view_type!r}") from None
    ids, clauses, keys = tuple(experiment_ids), tuple(comparisons), tuple(order_keys)
    values = len(ids) + sum(len(c.value) if isinstance(c.value, tuple) else 1 for c in clauses)
    if values <= _CACHED_VALUES and len(keys) <= _CACHED_VALUES:
        return _cached_search_query(ids, clauses, view_type, keys, dialect)
    return _search_query(ids, clauses, view_type, keys, dialect)


@functools.lru_cache(maxsize=256)
def _cached_search_query(
    experiment_ids: tuple[int, ...],
    comparisons: tuple[Comparison, ...],
    view_type: ViewType,
    order_keys: tuple[OrderKey, ...],
    dialect: str,
) -> sa.Select[Any]:
    return _search_query(experiment_ids, comparisons, view_type, order_keys, dialect)


def _search_query(
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    view_type: ViewType,
    order_keys: Sequence[OrderKey],
    dialect: str,
) -> sa.Select[Any]:
    runs = m.runs
    from_, conditions = _filtered(experiment_ids, comparisons, view_type, dialect)
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
        sa.select(*RUN_COLUMNS)
        .select_from(from_)
        .where(*all_of(conditions))
        .order_by(*order)
        .offset(sa.bindparam(PAGE_OFFSET, type_=sa.Integer))
        .limit(sa.bindparam(PAGE_LIMIT, type_=sa.Integer))
    )

"""The search grammar parser: valid filters, aliases, and errors with positions."""

from __future__ import annotations

import pytest

from spanrun.errors import InvalidFilterError, InvalidInputError
from spanrun.store._search_filter import Comparison, OrderKey, parse_filter, parse_order_by


def test_empty_filter() -> None:
    assert parse_filter("") == [] and parse_filter(None) == [] and parse_filter("   ") == []


def test_full_example() -> None:
    text = (
        "metrics.x > 0.5 and params.model = 'gpt-4o' AND tags.team LIKE 'nlp%' "
        'and attributes.status = "FINISHED"'
    )
    assert parse_filter(text) == [
        Comparison("metric", "x", ">", 0.5, 0),
        Comparison("param", "model", "=", "gpt-4o", 20),
        Comparison("tag", "team", "LIKE", "nlp%", text.index("tags.")),
        Comparison("attribute", "status", "=", "FINISHED", text.index("attributes.")),
    ]


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("metric.a = 1", "metric", "a"),
        ("param.a = '1'", "param", "a"),
        ("tag.a = '1'", "tag", "a"),
        ("attribute.run_name = 'r'", "attribute", "run_name"),
        ("run.run_id = 'r'", "attribute", "run_id"),
        ("attributes.run_uuid = 'r'", "attribute", "run_id"),
        ("METRICS.a = 1", "metric", "a"),
        ("metrics.llm.input_tokens = 1", "metric", "llm.input_tokens"),
        ("metrics.`my metric` = 1", "metric", "my metric"),
        ("tags.\"my tag\" = 'x'", "tag", "my tag"),
        ("params.a-b/c:d = '1'", "param", "a-b/c:d"),
        ("status = 'RUNNING'", "attribute", "status"),
        ("attributes.created > 5", "attribute", "start_time"),
    ],
)
def test_identifiers_and_aliases(text: str, kind: str, key: str) -> None:
    (comp,) = parse_filter(text)
    assert (comp.kind, comp.key) == (kind, key)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("metrics.a=1", "=", 1.0),
        ("metrics.a != -2.5", "!=", -2.5),
        ("metrics.a<1e3", "<", 1000.0),
        ("metrics.a <= .5", "<=", 0.5),
        ("metrics.a >= +3", ">=", 3.0),
        ("metrics.a == 1", "=", 1.0),
        ("params.a like 'x%'", "LIKE", "x%"),
        ("params.a ILike 'x%'", "ILIKE", "x%"),
        ("params.a IN ('a', \"b\",'c')", "IN", ("a", "b", "c")),
        ("params.a not  in ('a')", "NOT IN", ("a",)),
        ("params.a = 'it''s'", "=", "it's"),
        ("params.batch = 32", "=", "32"),
        ("attributes.start_time > 1700000000000", ">", 1.7e12),
    ],
)
def test_operators_and_values(text: str, op: str, value: object) -> None:
    (comp,) = parse_filter(text)
    assert (comp.op, comp.value) == (op, value)


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("metrics.x >> 1", 11, "expected a number"),
        ("metrics.x > 'a'", 12, "expected a number"),
        ("metrics.x LIKE '1'", 10, "not allowed"),
        ("params.x > '1'", 9, "not allowed"),
        ("params.x = 'a' OR params.y = 'b'", 15, "OR is not supported"),
        ("params.x = 'a' params.y = 'b'", 15, "expected AND"),
        ("bogus.x = 1", 0, "unknown prefix"),
        ("nothing = 1", 0, "unknown identifier"),
        ("attributes.color = 'red'", 0, "unknown attribute"),
        ("params.x = 'unterminated", 11, "unexpected character"),
        ("params.x =", 10, "expected a quoted string"),
        ("params.x", 8, "expected an operator"),
        ("params.x NOT LIKE 'a'", 13, "expected IN"),
        ("params.x IN 'a'", 12, "parenthesised list"),
        ("params.x IN ('a' 'b')", 17, "expected ',' or ')'"),
        ("params.x IN ()", 13, "quoted string in the list"),
        ("metrics. = 1", 9, "expected a key"),
        ("metrics.`` = 1", 8, "empty key"),
        ("params.x = 'a' AND", 18, "expected an identifier"),
        ("params.x = 'a' ; DROP TABLE runs", 15, "unexpected character"),
        ("metrics.x > 1abc", 12, "unexpected character"),
    ],
)
def test_errors_name_the_position(text: str, position: int, words: str) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert words in str(info.value)
    assert f"position {position}" in str(info.value)
    assert isinstance(info.value, InvalidInputError)


def test_experiment_entity() -> None:
    assert parse_filter("name LIKE 'a%' and tags.k = 'v'", "experiment") == [
        Comparison("attribute", "name", "LIKE", "a%", 0),
        Comparison("tag", "k", "=", "v", 19),
    ]
    with pytest.raises(InvalidFilterError, match="unknown prefix"):
        parse_filter("metrics.a = 1", "experiment")
    with pytest.raises(InvalidFilterError, match="unknown identifier"):
        parse_filter("status = 'x'", "experiment")


def test_order_by() -> None:
    assert parse_order_by(["metrics.acc DESC", "params.lr", "attributes.start_time asc"]) == [
        OrderKey("metric", "acc", False),
        OrderKey("param", "lr", True),
        OrderKey("attribute", "start_time", True),
    ]
    assert parse_order_by(["metrics.`my metric` desc"]) == [OrderKey("metric", "my metric", False)]
    assert parse_order_by(None) == [] and parse_order_by([]) == []
    with pytest.raises(InvalidFilterError) as info:
        parse_order_by(["metrics.acc DESCENDING"])
    assert info.value.position == 12
    with pytest.raises(InvalidFilterError):
        parse_order_by(["metrics.acc DESC, params.lr"])
    with pytest.raises(InvalidFilterError):
        parse_order_by([""])

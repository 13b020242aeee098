"""@spanrun.trace's fast input capture records exactly what MLflow's way does.

The decorator reads a call's arguments without ``Signature.bind_partial`` when they go to named
parameters, and serialises common values without building a JSON encoder per call; these tests
check both against the plain reference (``bind_partial`` then ``json.dumps(default=repr)``) on
generated signatures, calls and values, key order included."""

from __future__ import annotations

import enum
import inspect
import json
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from spanrun._tracing import _Arguments, _json

P = inspect.Parameter


def reference_inputs(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What the decorator recorded before the fast path (MLflow's rules)."""
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), **kwargs}
    values = dict(bound.arguments)
    values.pop("self", None)
    values.pop("cls", None)
    if len(values) == 1:
        (only,) = values.values()
        if isinstance(only, str):
            return only
    return values


KIND_ORDER = [
    P.POSITIONAL_ONLY,
    P.POSITIONAL_OR_KEYWORD,
    P.VAR_POSITIONAL,
    P.KEYWORD_ONLY,
    P.VAR_KEYWORD,
]
NAMES = ["self", "cls", "a", "b", "c", "d", "args", "kwargs"]


@st.composite
def signatures(draw: st.DrawFn) -> inspect.Signature:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=6))
    params: list[P] = []
    for name in names:
        params.append(P(name, draw(st.sampled_from(KIND_ORDER))))
    # A valid signature: kinds in order, at most one * and one **, defaults only trailing
    # among positional parameters.
    params.sort(key=lambda p: KIND_ORDER.index(p.kind))
    seen: set[Any] = set()
    valid: list[P] = []
    for p in params:
        if p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            if p.kind in seen:
                continue
            seen.add(p.kind)
        valid.append(p)
    with_default = draw(st.booleans())
    result: list[P] = []
    for i, p in enumerate(valid):
        positional_tail = all(
            q.kind not in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD) for q in valid[i + 1 :]
        )
        if (
            with_default
            and p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
            and positional_tail
        ):
            p = p.replace(default=0)
        elif p.kind is P.KEYWORD_ONLY and draw(st.booleans()):
            p = p.replace(default=1)
        result.append(p)
    return inspect.Signature(result)


def function_with(signature: inspect.Signature) -> Any:
    def fn(*args: Any, **kwargs: Any) -> None:
        return None

    fn.__signature__ = signature  # type: ignore[attr-defined]
    return fn


values = st.one_of(
    st.integers(), st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=2)
)


@settings(max_examples=200, deadline=None)
@given(signature=signatures(), args=st.lists(values, max_size=4), data=st.data())
def test_fast_argument_capture_matches_bind_partial(signature, args, data):
    # Keywords mostly naming parameters that take them, in any order; sometimes one more of
    # any name (unknown, positional-only, a * or ** parameter's, one filled by position).
    named = [
        n
        for n, p in signature.parameters.items()
        if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)
    ]
    keys = data.draw(st.permutations(named))[: data.draw(st.integers(0, len(named)))]
    if data.draw(st.booleans()):
        keys.append(data.draw(st.sampled_from([*signature.parameters, "other"])))
    kwargs = {k: data.draw(values) for k in keys}
    fn = function_with(signature)
    got = _Arguments(fn)(tuple(args), dict(kwargs))
    want = reference_inputs(fn, tuple(args), dict(kwargs))
    assert got == want
    if isinstance(want, dict):
        assert list(got) == list(want)  # the JSON text keeps the signature's order


def test_common_shapes():
    class Service:
        def answer(self, question: str, k: int = 3) -> None: ...

        @classmethod
        def build(cls, name: str) -> None: ...

    def defaults(a: int, b: int = 2, *rest: int, flag: bool = False, **extra: Any) -> None: ...

    service = Service()
    assert _Arguments(Service.answer)((service, "why?"), {}) == "why?"
    assert _Arguments(Service.answer)((service, "why?"), {"k": 5}) == {"question": "why?", "k": 5}
    assert _Arguments(Service.build.__func__)((Service, "n"), {}) == "n"
    capture = _Arguments(defaults)
    assert capture((1,), {}) == {"a": 1}  # defaults left out, as bind_partial does
    assert capture((1, 2, 3, 4), {"flag": True, "z": 0}) == {
        "a": 1,
        "b": 2,
        "rest": (3, 4),
        "flag": True,
        "extra": {"z": 0},
    }
    reordered = capture((), {"b": 1, "a": 2})
    assert list(reordered.items()) == [("a", 2), ("b", 1)]  # the signature's order
    assert capture((1,), {"a": 2}) == {"args": [1], "a": 2}  # does not bind
    assert _Arguments(len)(("x",), {}) == "x"  # a builtin's signature

    def both_dropped(self: Any, cls: Any, x: int = 0) -> None: ...

    assert _Arguments(both_dropped)((1, "s"), {}) == {}


class Color(enum.IntEnum):
    RED = 1


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.sampled_from([Color.RED, object, b"bytes", 1.5j]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3),
    ),
    max_leaves=8,
)


def reference_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_matches_json_dumps_with_repr(value):
    assert _json(value) == reference_json(value)


def test_json_edge_cases():
    circular: list[Any] = []
    circular.append(circular)
    for value in [circular, {(1, 2): "tuple key"}, float("nan"), "héllo", {"é": "ü"}, True, 10**30]:
        assert _json(value) == reference_json(value)

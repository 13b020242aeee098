"""Every invalid input gives the right typed error, names the key, and keeps stored data."""

from __future__ import annotations

import math

import numpy as np
import pytest

import spanrun
from spanrun.core.entities import Metric, Param, RunTag
from spanrun.errors import InvalidInputError, InvalidParamChangeError, UnsafePathError


@pytest.fixture
def run_id() -> str:
    run = spanrun.start_run()
    spanrun.log_param("kept_param", "v")
    spanrun.log_metric("kept_metric", 1.5)
    spanrun.set_tag("kept_tag", "t")
    return run.info.run_id


def _assert_intact(run_id: str) -> None:
    data = spanrun.get_run(run_id).data
    assert data.params["kept_param"] == "v"
    assert data.metrics["kept_metric"] == 1.5
    assert data.tags["kept_tag"] == "t"


@pytest.mark.parametrize(
    "key",
    ["bad!key", "a;b", "", "x" * 251, "../up", "a/../b", "/abs", "a//b", "trail/", ".", "q'"],
)
def test_bad_keys_are_rejected_for_params_metrics_and_tags(run_id: str, key: str) -> None:
    for call in (
        lambda: spanrun.log_param(key, 1),
        lambda: spanrun.log_metric(key, 1.0),
        lambda: spanrun.set_tag(key, "x"),
    ):
        with pytest.raises(InvalidInputError) as info:
            call()
        assert (repr(key[:40]) in str(info.value)) or "empty" in str(info.value)
    _assert_intact(run_id)


def test_allowed_key_characters(run_id: str) -> None:
    key = "a/b.c-d e:f_g"
    spanrun.log_param(key, 1)
    spanrun.log_metric(key, 2)
    spanrun.set_tag(key, "3")
    data = spanrun.get_run(run_id).data
    assert (data.params[key], data.metrics[key], data.tags[key]) == ("1", 2.0, "3")


def test_non_string_key(run_id: str) -> None:
    with pytest.raises(InvalidInputError, match="must be a string"):
        spanrun.log_param(3, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False, "0.5", None, [1.0], 1 + 2j, np.bool_(True)])
def test_non_numeric_metric_values_are_rejected(run_id: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match="'m'"):
        spanrun.log_metric("m", value)  # type: ignore[arg-type]
    assert "m" not in spanrun.get_run(run_id).data.metrics
    _assert_intact(run_id)


def test_numpy_scalars_nan_and_infinities_are_stored(run_id: str) -> None:
    spanrun.log_metric("np32", np.float32(0.25))
    spanrun.log_metric("np64", np.int64(7))
    spanrun.log_metric("nan", float("nan"))
    spanrun.log_metric("inf", float("inf"))
    spanrun.log_metric("ninf", -math.inf)
    metrics = spanrun.get_run(run_id).data.metrics
    assert metrics["np32"] == 0.25 and metrics["np64"] == 7.0
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf and metrics["ninf"] == -math.inf


@pytest.mark.parametrize("step", [1.5, "3", True, 2**63])
def test_bad_steps(run_id: str, step: object) -> None:
    with pytest.raises(InvalidInputError, match="step"):
        spanrun.log_metric("m", 1.0, step=step)  # type: ignore[arg-type]


def test_bad_timestamp(run_id: str) -> None:
    with pytest.raises(InvalidInputError, match="timestamp"):
        spanrun.log_metric("m", 1.0, timestamp="now")  # type: ignore[arg-type]


def test_param_values_are_stringified_and_limited(run_id: str) -> None:
    spanrun.log_param("n", 3)
    spanrun.log_param("d", {"a": 1})
    assert spanrun.get_run(run_id).data.params["n"] == "3"
    assert spanrun.get_run(run_id).data.params["d"] == "{'a': 1}"
    spanrun.log_param("max", "x" * 6000)
    with pytest.raises(InvalidInputError, match=r"'long'.*6001.*6000"):
        spanrun.log_param("long", "x" * 6001)
    assert "long" not in spanrun.get_run(run_id).data.params
    _assert_intact(run_id)


def test_long_values_truncated_when_opted_in(run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANRUN_TRUNCATE_LONG_VALUES", "true")
    spanrun.log_param("long", "y" * 7000)
    spanrun.set_tag("longtag", "z" * 9000)
    data = spanrun.get_run(run_id).data
    assert data.params["long"] == "y" * 6000
    assert data.tags["longtag"] == "z" * 8000


def test_tag_value_limit(run_id: str) -> None:
    spanrun.set_tag("ok", "z" * 8000)
    with pytest.raises(InvalidInputError, match=r"'big'.*8000"):
        spanrun.set_tag("big", "z" * 8001)
    _assert_intact(run_id)


def test_param_change_names_key_old_and_new_value(run_id: str) -> None:
    spanrun.log_param("lr", 0.1)
    spanrun.log_param("lr", 0.1)  # the same value again is fine
    with pytest.raises(InvalidParamChangeError) as info:
        spanrun.log_param("lr", 0.2)
    message = str(info.value)
    assert "lr" in message and "0.1" in message and "0.2" in message
    assert spanrun.get_run(run_id).data.params["lr"] == "0.1"
    _assert_intact(run_id)


def test_batch_limits(run_id: str) -> None:
    client = spanrun.SpanrunClient()
    ts = 0
    spanrun.log_metrics({f"m{i}": i for i in range(1000)})
    with pytest.raises(InvalidInputError, match="1000 metrics"):
        client.log_batch(run_id, metrics=[Metric(f"x{i}", 1.0, ts, 0) for i in range(1001)])
    with pytest.raises(InvalidInputError, match="100 params"):
        spanrun.log_params({f"p{i}": i for i in range(101)})
    with pytest.raises(InvalidInputError, match="100 tags"):
        spanrun.set_tags({f"t{i}": i for i in range(101)})
    data = spanrun.get_run(run_id).data
    assert len([k for k in data.metrics if k.startswith("m")]) == 1000
    assert not any(k.startswith("x") for k in data.metrics)
    assert not any(k.startswith("p") for k in data.params)
    _assert_intact(run_id)


def test_a_bad_entry_rejects_the_whole_batch(run_id: str) -> None:
    with pytest.raises(InvalidInputError, match="'bad'"):
        spanrun.log_metrics({"good": 1.0, "bad": "high"})  # type: ignore[dict-item]
    assert "good" not in spanrun.get_run(run_id).data.metrics
    client = spanrun.SpanrunClient()
    with pytest.raises(InvalidParamChangeError, match="'p'"):
        client.log_batch(run_id, params=[Param("p", "1"), Param("p", "2")])
    with pytest.raises(InvalidInputError, match="Metric objects"):
        client.log_batch(run_id, metrics=[("m", 1.0)])  # type: ignore[list-item]
    client.log_batch(run_id, params=[Param("p", "1"), Param("p", "1")], tags=[RunTag("t", "1")])
    assert spanrun.get_run(run_id).data.params["p"] == "1"
    _assert_intact(run_id)


def test_a_changed_param_in_a_batch_keeps_nothing_of_it(run_id: str) -> None:
    client = spanrun.SpanrunClient()
    with pytest.raises(InvalidParamChangeError):
        client.log_batch(
            run_id,
            metrics=[Metric("fresh", 1.0, 0, 0)],
            params=[Param("kept_param", "other")],
        )
    assert "fresh" not in spanrun.get_run(run_id).data.metrics
    _assert_intact(run_id)


@pytest.mark.parametrize("path", ["../x.txt", "a/../../x.txt", "/etc/passwd", "..\\x.txt"])
def test_artifact_paths_cannot_escape(run_id: str, path: str) -> None:
    with pytest.raises(UnsafePathError):
        spanrun.log_text("x", path)
    with pytest.raises(UnsafePathError):
        spanrun.log_dict({"a": 1}, path)
    _assert_intact(run_id)


def test_dicts_must_be_mappings(run_id: str) -> None:
    with pytest.raises(InvalidInputError, match="dict"):
        spanrun.log_params([("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="dict"):
        spanrun.log_metrics(None)  # type: ignore[arg-type]

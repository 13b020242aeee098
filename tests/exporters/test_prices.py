"""The user's price table."""

from __future__ import annotations

import json

import pytest

from spanrun.errors import InvalidInputError
from spanrun.exporters import PriceTable

PRICES = {"gpt-4o": {"input": 2.5, "output": 10.0}, "gpt-4o-mini": {"input": 0.15, "output": 0.6}}


def test_cost_per_million_tokens_and_dated_names():
    table = PriceTable(PRICES)
    assert table.cost("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    assert table.cost("gpt-4o-mini", 1000, 500) == pytest.approx((1000 * 0.15 + 500 * 0.6) / 1e6)
    # A dated snapshot uses its base model's price, never a shorter model's.
    assert table.cost("gpt-4o-mini-2024-07-18", 1000, 0) == pytest.approx(0.00015)
    assert table.cost("gpt-4o-2024-08-06", 1000, 0) == pytest.approx(0.0025)
    assert table.cost("gpt-4o-audio-preview", 1000, 0) is None
    assert table.cost("unknown", 10, 10) is None
    assert table.cost("gpt-4o", None, None) is None


def test_load_from_json_and_yaml_files(tmp_path):
    as_json = tmp_path / "prices.json"
    as_json.write_text(json.dumps(PRICES))
    as_yaml = tmp_path / "prices.yaml"
    as_yaml.write_text("gpt-4o-mini:\n  input: 0.15\n  output: 0.6\n")
    assert PriceTable.load(str(as_json)).cost("gpt-4o", 0, 1_000_000) == pytest.approx(10)
    assert PriceTable.load(as_yaml).cost("gpt-4o-mini", 0, 1_000_000) == pytest.approx(0.6)
    assert not PriceTable.load(None)


@pytest.mark.parametrize(
    "prices",
    [
        {"m": {"input": "cheap"}},
        {"m": {"input": -1}},
        {"m": {"output": float("nan")}},
        {"m": 0.5},
    ],
)
def test_bad_prices_are_clear_errors(prices):
    with pytest.raises(InvalidInputError, match="'m'"):
        PriceTable(prices)


def test_bad_price_files_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot read"):
        PriceTable.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InvalidInputError, match="does not parse"):
        PriceTable.load(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(InvalidInputError, match="mapping"):
        PriceTable.load(listed)

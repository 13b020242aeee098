"""Which way autolog's spans go to a spanrun server: ``otlp`` by default, ``rest`` on request."""

from __future__ import annotations

import pytest

from spanrun import _autolog
from spanrun.errors import InvalidInputError
from spanrun.exporters import TRANSPORT_ENV, transport_setting


def test_otlp_by_default_rest_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRANSPORT_ENV, raising=False)
    assert transport_setting() == "otlp"
    monkeypatch.setenv(TRANSPORT_ENV, " REST ")
    assert transport_setting() == "rest"
    assert transport_setting("otlp") == "otlp"  # the argument wins
    monkeypatch.setenv(TRANSPORT_ENV, "carrier-pigeon")
    with pytest.raises(InvalidInputError, match=TRANSPORT_ENV):
        transport_setting()


def test_autolog_refuses_an_unknown_transport_before_changing_anything() -> None:
    state = _autolog._Autolog()
    with pytest.raises(InvalidInputError, match="server_transport"):
        state.autolog(libraries=(), server_transport="smoke-signals")
    assert state.sender is None and not state.processor.parts

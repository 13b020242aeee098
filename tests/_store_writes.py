"""Replace a store's export-batch write in a test (to slow it down, fail it, count it)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from spanrun.store.base import RunWriter


def patch_export_write(
    monkeypatch: pytest.MonkeyPatch, store: RunWriter, write: Callable[..., Any]
) -> None:
    """Make ``write(runs, spans)`` the store's batch write, in both forms the exporter uses:
    ``log_export_batch`` and the job that ``prepare_export_batch`` returns."""
    monkeypatch.setattr(store, "log_export_batch", write)
    monkeypatch.setattr(
        store,
        "prepare_export_batch",
        lambda runs, spans=(): functools.partial(write, runs, spans),
    )

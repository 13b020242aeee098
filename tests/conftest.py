"""Fixtures shared by every test folder (each folder's conftest adds its own).

Every test runs with its own SQLite store in ``tmp_path`` (the autouse ``tracking_uri``) and
no leftover fluent state, so no test writes into the working directory.

spanrun's internal errors are re-raised under the test suite (``SPANRUN_RAISE_INTERNAL_ERRORS``,
see ``spanrun.core.internal_errors``), so bugs surface instead of being logged; set at import so
that child processes started by tests inherit it. Tests that check swallowing clear it with
``monkeypatch.delenv``.
"""

import os

os.environ.setdefault("SPANRUN_RAISE_INTERNAL_ERRORS", "1")

from spanrun.testing.fixtures import openai_server  # noqa: F401
from tests._isolation import tracking_uri  # noqa: F401
from tests._postgres import _shared_postgres_server, postgres_uri  # noqa: F401
from tests._rest_servers import mlflow_server_uri  # noqa: F401

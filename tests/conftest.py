"""Fixtures shared by every test folder (each folder's conftest adds its own).

Every test runs with its own SQLite store in ``tmp_path`` (the autouse ``tracking_uri``) and
no leftover fluent state, so no test writes into the working directory.
"""

from spanrun.testing.fixtures import openai_server  # noqa: F401
from tests._isolation import tracking_uri  # noqa: F401

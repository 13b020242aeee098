"""Fixtures shared by every test folder (each folder's conftest adds its own)."""

from spanrun.testing.fixtures import openai_server  # noqa: F401

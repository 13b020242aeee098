"""Subprocess for test_import_later: autolog() first, openai imported afterwards."""

from __future__ import annotations

import sys

import spanrun

spanrun.autolog()
assert "openai" not in sys.modules, "autolog() must not import openai"

import openai  # noqa: E402 - imported after autolog() on purpose

client = openai.OpenAI(base_url=sys.argv[1], api_key="test-key", max_retries=0)
with spanrun.start_run(run_name="late-import"):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}])

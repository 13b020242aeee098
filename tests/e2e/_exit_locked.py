"""Subprocess for test_exit_with_store_locked: one call, then exit while the store is locked.

argv: base_url. The parent holds the database's write lock the whole time.
"""

from __future__ import annotations

import sys

import openai
import spanrun
from spanrun import _autolog

_autolog._EXIT_TIMEOUT_S = 1.0  # the test's patience, not the default 30 s
spanrun.autolog()
client = openai.OpenAI(base_url=sys.argv[1], api_key="test-key", max_retries=0)
reply = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "bye"}]
)
print(reply.choices[0].message.content)

"""Subprocess for test_many_calls: N chat calls (4 threads) outside any run, then exit.

argv: base_url n
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import openai
import spanrun


def main() -> None:
    base_url, n = sys.argv[1], int(sys.argv[2])
    spanrun.autolog()  # session mode: the run is created on the first span, ended at exit
    client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)

    def call(i: int) -> None:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
        )

    # A few threads overlap this process's work with the server's (the test's wall time).
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(call, range(n)))
    # No flush, no end: a normal exit must store everything.


if __name__ == "__main__":
    main()

"""Subprocess for test_forked_workers: a multiprocessing Pool (the start method given) whose
workers each make chat calls, outside any run or each inside its own, then a normal exit.

argv: start_method outside|inside n; env: SPANRUN_TRACKING_URI, SPANRUN_TEST_BASE_URL
"""

from __future__ import annotations

import multiprocessing
import os
import sys

import openai
import spanrun

# At import: spawned workers import this module too, and autolog there as the parent does.
spanrun.autolog()
INSIDE = len(sys.argv) > 2 and sys.argv[2] == "inside"


def call(i: int) -> int:
    client = openai.OpenAI(
        base_url=os.environ["SPANRUN_TEST_BASE_URL"], api_key="test-key", max_retries=0
    )

    def ask() -> None:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
        )

    if INSIDE:
        with spanrun.start_run(run_name=f"worker call {i}"):
            ask()
    else:
        ask()
    return os.getpid()


def main() -> None:
    method, n = sys.argv[1], int(sys.argv[3])
    # `with Pool()` terminates the workers (SIGTERM) as soon as map() has its results.
    with multiprocessing.get_context(method).Pool(3) as pool:
        pids = set(pool.map(call, range(n)))
    print(len(pids))


if __name__ == "__main__":
    main()

"""Subprocess for test_killed_process: make a run RUNNING in the store, say so, then wait to be
killed (or terminated) without ever ending it.

argv: mode base_url
  session: autologged calls outside any run (the exporter's session run)
  trace:   autologged calls under an open root span in trace mode (the exporter's trace run)
  fluent:  spanrun.start_run() and a metric
Prints "ready" once the run and its data are in the store.
"""

from __future__ import annotations

import sys
import time

import openai
import spanrun
from spanrun._autolog import flush


def chat(client: openai.OpenAI, text: str) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )


def main() -> None:
    mode, base_url = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
    if mode == "fluent":
        spanrun.start_run(run_name="held")
        spanrun.log_metric("progress", 1.0)
    elif mode == "session":
        spanrun.autolog()
        for i in range(3):
            chat(client, f"q{i}")
        flush()  # the run exists once the first batch is written
    elif mode == "trace":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())  # autolog adds its processors to it
        spanrun.autolog(run_mode="trace")
        tracer = trace.get_tracer("held")
        with tracer.start_as_current_span("pipeline"):
            chat(client, "inside")
            flush()  # the call's span is written: its trace's run is created, RUNNING
            print("ready", flush=True)
            time.sleep(600)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print("ready", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()

"""spanrun demo: autolog OpenAI calls into the embedded store, show them with the CLI and the UI.

Without OPENAI_API_KEY the demo starts spanrun's own local OpenAI-compatible server (the one the
test suite uses) and points the client at it, so it works offline.

    python examples/demo.py            # writes ./spanrun.db and ./spanrun-artifacts/
    python examples/demo.py --ui       # ... then serves the web UI at http://127.0.0.1:5000
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack


def run_calls(client: object, model: str) -> None:
    """A few typical calls: plain chat, a streamed chat, embeddings, a call in a nested run."""
    import spanrun

    spanrun.set_experiment("demo")
    with spanrun.start_run(run_name="prompt-iteration") as run:
        spanrun.log_param("prompt_version", "v2")
        for question in ["What is OpenTelemetry?", "Name three LLM evaluation metrics."]:
            reply = client.chat.completions.create(  # type: ignore[attr-defined]
                model=model,
                temperature=0.2,
                max_tokens=64,
                messages=[
                    {"role": "system", "content": "You answer in one sentence."},
                    {"role": "user", "content": question},
                ],
            )
            print(f"  chat  -> {reply.choices[0].message.content!r}")
        stream = client.chat.completions.create(  # type: ignore[attr-defined]
            model=model,
            messages=[{"role": "user", "content": "Stream a short haiku."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        print(f"  stream-> {text!r}")
        emb = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])  # type: ignore[attr-defined]
        print(f"  embeddings -> {len(emb.data)} vectors of {len(emb.data[0].embedding)} dims")
    print(f"run {run.info.run_id} finished")


def show(run_id: str) -> None:
    """Show what was captured through the CLI, as a user would."""
    cli = [sys.executable, "-m", "spanrun.cli"]
    for args in (
        ["runs", "list", "--experiment-name", "demo"],
        ["runs", "describe", run_id],
        ["artifacts", "list", "--run-id", run_id],
        ["traces", "list", "--run-id", run_id],
    ):
        print(f"\n$ spanrun {' '.join(args)}", flush=True)
        subprocess.run([*cli, *args], check=False)


def main() -> None:
    import openai
    import spanrun

    spanrun.autolog()
    with ExitStack() as stack:
        if os.environ.get("OPENAI_API_KEY"):
            client = openai.OpenAI()
            model = os.environ.get("SPANRUN_DEMO_MODEL", "gpt-4o-mini")
            print("Using the real OpenAI API (OPENAI_API_KEY is set).")
        else:
            from spanrun.testing.openai_server import OpenAIServer

            server = stack.enter_context(OpenAIServer())
            client = openai.OpenAI(base_url=server.base_url, api_key="not-needed")
            model = "gpt-4o-mini"
            print(
                f"No OPENAI_API_KEY: using spanrun's local OpenAI-compatible server at "
                f"{server.base_url}"
            )
        run_calls(client, model)
    run = spanrun.last_active_run()
    assert run is not None
    show(run.info.run_id)
    print(f"\nTracking URI: {spanrun.get_tracking_uri()}")
    if "--ui" in sys.argv[1:]:
        spanrun.autolog(disable=True)  # everything is stored: the UI reads the same file
        print(
            f"\nThe web UI: http://127.0.0.1:5000/runs/{run.info.run_id} "
            "(the demo experiment, its runs, predictions and traces). Ctrl-C stops it.",
            flush=True,
        )
        subprocess.run([sys.executable, "-m", "spanrun.cli", "ui"], check=False)


if __name__ == "__main__":
    main()

"""A program with spanrun's autolog and OTel's openai-v2 instrumentation both enabled.

``python _two_instrumentations.py ORDER MODE``: ORDER ``spanrun-first`` / ``otel-first``,
MODE ``sync`` / ``stream`` / ``async`` / ``async-stream``. Three calls inside one run; prints
the run id. Tracking URI and ``OPENAI_BASE_URL`` come from the environment.
"""

from __future__ import annotations

import asyncio
import sys

from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

import openai
import spanrun

CALLS = 3


def _sync(mode: str) -> None:
    client = openai.OpenAI(api_key="k", max_retries=0)
    for i in range(CALLS):
        messages = [{"role": "user", "content": f"question {i}"}]
        if mode == "stream":
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        else:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            assert reply.choices[0].message.content


async def _async(mode: str) -> None:
    client = openai.AsyncOpenAI(api_key="k", max_retries=0)
    for i in range(CALLS):
        messages = [{"role": "user", "content": f"question {i}"}]
        if mode == "async-stream":
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        else:
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            assert reply.choices[0].message.content


def main(order: str, mode: str) -> None:
    if order == "otel-first":
        OpenAIInstrumentor().instrument()
        spanrun.autolog()
    else:
        spanrun.autolog()
        OpenAIInstrumentor().instrument()
    with spanrun.start_run(run_name="both") as run:
        if mode.startswith("async"):
            asyncio.run(_async(mode))
        else:
            _sync(mode)
    print(run.info.run_id)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

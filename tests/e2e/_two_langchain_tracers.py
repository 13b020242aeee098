"""A program with spanrun's autolog and OpenInference's LangChain instrumentor both enabled.

``python _two_langchain_tracers.py ORDER MODE``: ORDER ``spanrun-first`` / ``openinference-first``,
MODE ``sync`` / ``stream`` / ``async`` / ``with-openai`` (sync, autolog of OpenAI too, whose span
then nests under the chat model's) / ``openinference-only`` (sync, autolog of no library: spanrun
maps OpenInference's spans). Inside one run: a prompt | chat model | parser chain
called ``CALLS`` times, then one tool. Prints the run id. Tracking URI and ``OPENAI_BASE_URL``
come from the environment; OpenInference comes from a folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openinference.instrumentation.langchain import LangChainInstrumentor

import spanrun

CALLS = 2


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _chain():  # type: ignore[no-untyped-def]
    llm = ChatOpenAI(
        base_url=os.environ["OPENAI_BASE_URL"],
        api_key="k",  # type: ignore[arg-type]
        model="gpt-4o-mini",
        max_retries=0,
        stream_usage=True,
    )
    prompt = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")])
    return prompt | llm | StrOutputParser()


async def _async(chain) -> None:  # type: ignore[no-untyped-def]
    for i in range(CALLS):
        assert await chain.ainvoke({"topic": f"t{i}"}) == f"Echo: Tell me about t{i}"


def main(order: str, mode: str) -> None:
    libraries = {"with-openai": ["langchain", "openai"], "openinference-only": []}.get(
        mode, ["langchain"]
    )
    if order == "openinference-first":
        LangChainInstrumentor().instrument()
        spanrun.autolog(libraries=libraries)
    else:
        spanrun.autolog(libraries=libraries)
        LangChainInstrumentor().instrument()
    chain = _chain()
    with spanrun.start_run(run_name="both") as run:
        if mode == "async":
            asyncio.run(_async(chain))
        for i in range(CALLS if mode != "async" else 0):
            if mode == "stream":
                text = "".join(chain.stream({"topic": f"t{i}"}))
            else:
                text = chain.invoke({"topic": f"t{i}"})
            assert text == f"Echo: Tell me about t{i}", text
        assert add.invoke({"a": 2, "b": 3}) == 5
    if mode == "openinference-only":
        assert _tracers() == ["OpenInferenceTracer"]
        print(run.info.run_id)
        return
    assert _tracers() == ["SpanrunCallbackHandler"]
    # autolog switched off: OpenInference's tracer is no longer turned away.
    spanrun.autolog(disable=True)
    assert _tracers() == ["OpenInferenceTracer"]
    print(run.info.run_id)


def _tracers() -> list[str]:
    """The handlers a new callback manager gets."""
    from langchain_core.callbacks import CallbackManager

    return [type(h).__name__ for h in CallbackManager(handlers=[]).handlers]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

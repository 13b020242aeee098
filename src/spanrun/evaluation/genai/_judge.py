"""Calling the judge: any OpenAI-compatible endpoint, through the ``openai`` client.

Model URIs are ``openai:/<model>``; the endpoint and key come from ``OPENAI_BASE_URL`` (or
MLflow's ``OPENAI_API_BASE``) and ``OPENAI_API_KEY``, read when a metric runs, or from
``proxy_url`` (MLflow's: the full chat completions URL, or a base URL). Rows are graded
concurrently: inside ``evaluate`` every attempt takes a slot of the evaluation-wide, adaptive
:class:`~spanrun.evaluation.JudgeLimit` (shared by the metrics, which run at the same time), and
``max_workers``, when given, caps one metric further; outside ``evaluate`` a metric runs
``max_workers`` calls at once (MLflow's 10 when not given). 429s, 5xx and connection errors are
retried here, with the ``openai`` client's rules (``_retry``), not by the client: so each
attempt waits for a slot and each 429 or 503 shrinks the window. Each row runs in a
``judge <metric>`` span, with ``JUDGE_CONTEXT_KEY`` set: under autolog each LLM call below it
(one per attempt) is an ordinary autologged call of the active run (its tokens and cost count)
that adds no row to ``llm_predictions.csv``.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from spanrun.errors import InvalidInputError, MissingDependencyError
from spanrun.evaluation import JudgeLimit, Outcome, Slot, current_judge_limit
from spanrun.evaluation.genai._parse import parse_verdict
from spanrun.evaluation.genai._retry import OVERLOADED, backoff, server_wait, should_retry
from spanrun.exporters import JUDGE_ATTRIBUTE, JUDGE_CONTEXT_KEY

if TYPE_CHECKING:
    import openai

__all__ = ["Judge", "parse_model_uri"]

_log = logging.getLogger(__name__)
_SUPPORTED = ("openai",)
_TIMEOUT_S = 120.0
_CHAT_PATH = "/chat/completions"
#: A metric's concurrent judge calls outside ``evaluate`` (MLflow's ``max_workers`` default).
_STANDALONE_WORKERS = 10
_INTERRUPTED = "Not graded: the evaluation was interrupted"
_REFUSED = "Not graded: the judge refused an earlier request"


def parse_model_uri(uri: str) -> tuple[str, str]:
    """``"openai:/gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``; a clear error otherwise."""
    if not isinstance(uri, str):
        raise InvalidInputError(
            f"The judge model must be a URI string like 'openai:/gpt-4o-mini', got {uri!r}"
        )
    provider, sep, model = uri.partition(":/")
    model = model.lstrip("/")
    if not sep or not provider or not model:
        raise InvalidInputError(
            f"Malformed judge model URI {uri!r}: use '<provider>:/<model>', "
            "e.g. 'openai:/gpt-4o-mini'"
        )
    if provider not in _SUPPORTED:
        raise InvalidInputError(
            f"Unsupported judge provider {provider!r} in {uri!r}: spanrun calls judges through "
            "any OpenAI-compatible endpoint, as 'openai:/<model>' with OPENAI_BASE_URL"
        )
    return provider, model


def _base_url(proxy_url: str | None) -> str | None:
    if proxy_url:
        url = proxy_url.rstrip("/")
        return url[: -len(_CHAT_PATH)] if url.endswith(_CHAT_PATH) else url
    return os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL") or None


def _configuration_errors() -> tuple[type[Exception], ...]:
    import openai

    # Every row would fail alike: the evaluation stops with a clear error, as MLflow's does.
    return (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)


class Judge:
    """One metric's judge: the model, request parameters, headers and limits."""

    def __init__(
        self,
        metric_name: str,
        model_uri: str,
        parameters: Mapping[str, Any],
        extra_headers: Mapping[str, str] | None,
        proxy_url: str | None,
        max_workers: int | None,
        max_retries: int,
    ) -> None:
        _, self.model = parse_model_uri(model_uri)
        if max_workers is not None and (
            not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
        ):
            raise InvalidInputError(f"max_workers must be a positive integer, got {max_workers!r}")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self.metric_name = metric_name
        self.parameters = dict(parameters)
        self.extra_headers = dict(extra_headers or {})
        self.proxy_url = proxy_url
        self.max_workers = max_workers
        self.max_retries = max_retries

    def _client(self) -> openai.OpenAI:
        try:
            import openai
        except ImportError:
            raise MissingDependencyError(
                "LLM-judge metrics call the judge with the openai client: "
                "pip install 'spanrun[openai]'"
            ) from None
        if not os.environ.get("OPENAI_API_KEY"):
            raise InvalidInputError(
                "OPENAI_API_KEY must be set to call the judge (any value for a local endpoint)"
            )
        return openai.OpenAI(
            base_url=_base_url(self.proxy_url),
            max_retries=0,  # the judge retries itself: every attempt goes through the window
            timeout=_TIMEOUT_S,
            default_headers=self.extra_headers or None,
        )

    def grade(self, prompts: Sequence[str]) -> tuple[list[float | None], list[str | None]]:
        """Scores and justifications of ``prompts`` (one per row), in order."""
        scores: list[float | None] = [None] * len(prompts)
        justifications: list[str | None] = [None] * len(prompts)
        if not prompts:
            return scores, justifications
        client = self._client()
        fatal = _configuration_errors()
        limit = current_judge_limit()
        if limit is None:
            # Alone, a metric is its own evaluation: MLflow's fixed 10 calls at once, or
            # max_workers, from the start (the window only shrinks on overload then).
            workers = self.max_workers or _STANDALONE_WORKERS
            limit = JudgeLimit(workers, initial=workers)
        else:
            workers = min(self.max_workers or limit.ceiling, limit.ceiling)
        try:
            workers = min(workers, len(prompts))
            with ThreadPoolExecutor(workers, thread_name_prefix="spanrun-judge") as pool:
                # Each row runs in a copy of the caller's context: the active run and the
                # current span reach the worker threads, so the calls land in the caller's run.
                stop = threading.Event()  # set on a refused request: no row is sent after it
                futures = [
                    pool.submit(
                        contextvars.copy_context().run, self._grade_one, client, i, p, stop, limit
                    )
                    for i, p in enumerate(prompts)
                ]
                try:
                    for i, future in enumerate(futures):
                        scores[i], justifications[i] = future.result()
                except BaseException as exc:
                    # Ctrl-C or a refused key: the rows not started yet are not sent.
                    for f in futures:
                        f.cancel()
                    if not isinstance(exc, fatal):
                        raise
                    raise InvalidInputError(
                        f"The judge of {self.metric_name!r} refused the request "
                        f"({type(exc).__name__}: {exc}); check OPENAI_API_KEY, "
                        f"OPENAI_BASE_URL and the model name {self.model!r}"
                    ) from None
        finally:
            client.close()
        failed = sum(s is None for s in scores)
        if failed:
            _log.warning(
                "spanrun: the judge of %r gave no score for %d of %d rows (the reason is in "
                "each row's justification)",
                self.metric_name,
                failed,
                len(prompts),
            )
        return scores, justifications

    def _grade_one(
        self,
        client: openai.OpenAI,
        row: int,
        prompt: str,
        stop: threading.Event,
        limit: JudgeLimit,
    ) -> tuple[float | None, str | None]:
        if stop.is_set():
            return None, _REFUSED
        # The first slot before the span: a row's span times its grading, not its wait in line.
        slot = limit.acquire()
        if slot is None:
            return None, _INTERRUPTED
        attributes: dict[str, str | int] = {
            JUDGE_ATTRIBUTE: self.metric_name,
            "spanrun.judge.row": row,
        }
        # The context value marks every span below, of whichever tracer provider (see
        # JUDGE_CONTEXT_KEY); the judge span itself comes from the global provider.
        token = otel_context.attach(otel_context.set_value(JUDGE_CONTEXT_KEY, self.metric_name))
        try:
            return self._traced_call(client, prompt, attributes, stop, limit, slot)
        except _configuration_errors():
            stop.set()
            raise
        finally:
            otel_context.detach(token)

    def _traced_call(
        self,
        client: openai.OpenAI,
        prompt: str,
        attributes: dict[str, str | int],
        stop: threading.Event,
        limit: JudgeLimit,
        slot: Slot,
    ) -> tuple[float | None, str | None]:
        # The global provider of now, not of import time (it may be replaced, e.g. in tests).
        tracer = trace.get_tracer("spanrun.evaluation.genai")
        with tracer.start_as_current_span(
            f"judge {self.metric_name}", attributes=attributes
        ) as span:
            try:
                reply = self._request(client, prompt, stop, limit, slot)
            except _NotSent as exc:
                return None, str(exc)
            except _configuration_errors():
                raise
            except Exception as exc:  # one row's failure is that row's, not the evaluation's
                failure = f"{type(exc).__name__}: {exc}"
                reason = f"Failed to score the row: the judge call failed ({failure})"
                span.set_attribute("spanrun.judge.error", reason)
                return None, reason
            choices = reply.choices or []
            text = choices[0].message.content if choices else None
            score, justification = parse_verdict(text)
            if score is not None:
                span.set_attribute("spanrun.judge.score", score)
            else:
                span.set_attribute("spanrun.judge.error", justification)
            return score, justification

    def _request(
        self,
        client: openai.OpenAI,
        prompt: str,
        stop: threading.Event,
        limit: JudgeLimit,
        first: Slot,
    ) -> Any:
        """The chat completion of ``prompt``: each attempt in a slot of ``limit`` (the first in
        ``first``), which sees how it ended; 429s, 5xx and connection errors retried up to
        ``max_retries`` times."""
        import openai

        slot: Slot | None = first
        for attempt in itertools.count():
            if slot is None:
                slot = limit.acquire()
                if slot is None:
                    raise _NotSent(_INTERRUPTED)
            outcome, pause = Outcome.FAILED, None
            try:
                if stop.is_set():
                    raise _NotSent(_REFUSED)
                reply = client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    **self.parameters,
                )
                outcome = Outcome.OK
                return reply
            except openai.APIStatusError as exc:
                headers = exc.response.headers
                if exc.status_code in OVERLOADED:
                    outcome, pause = Outcome.OVERLOADED, server_wait(headers)
                if attempt >= self.max_retries or not should_retry(exc.status_code, headers):
                    raise
                delay = backoff(attempt, headers)
            except openai.APIConnectionError:  # timeouts included
                if attempt >= self.max_retries:
                    raise
                delay = backoff(attempt)
            finally:
                limit.release(slot, outcome, pause)
                slot = None
            _log.debug("spanrun: judge %r retries in %.2f s", self.metric_name, delay)
            if limit.sleep(delay):
                raise _NotSent(_INTERRUPTED)
        raise AssertionError("unreachable")  # pragma: no cover


class _NotSent(Exception):
    """The call was not sent (the evaluation stopped, or the key was refused): the message is
    the row's justification."""

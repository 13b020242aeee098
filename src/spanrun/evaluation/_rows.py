"""Run a function over rows: a bounded thread pool, row order kept, a progress bar on a terminal,
and Ctrl-C keeping what is done.

Each row runs in a copy of the caller's context, so the active run and the current span (both
``ContextVar``s) are the caller's: autologged calls land in the evaluation's run.
"""

from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

__all__ = ["DEFAULT_MAX_WORKERS", "RowsInterrupted", "run_rows"]

T = TypeVar("T")

#: MLflow's request concurrency for OpenAI models (``process_api_requests(max_workers=10)``).
DEFAULT_MAX_WORKERS = 10


class RowsInterrupted(KeyboardInterrupt, Generic[T]):
    """Ctrl-C (or a KeyboardInterrupt from a row) stopped the rows: ``done`` maps the index of
    each finished row to ``(result, seconds)``. A KeyboardInterrupt, so it stops callers that do
    not look for it."""

    def __init__(self, done: dict[int, tuple[T, float]], total: int) -> None:
        super().__init__(f"interrupted after {len(done)} of {total} rows")
        self.done = done
        self.total = total


@contextmanager
def _progress(total: int, desc: str | None) -> Iterator[Callable[[], None]]:
    """A tqdm bar on stderr when it is a terminal (quiet otherwise, or without tqdm)."""
    bar: Any = None
    if desc is not None and sys.stderr.isatty():
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]

            bar = tqdm(total=total, desc=desc, unit="row", leave=False)
        except ImportError:
            bar = None
    try:
        yield (lambda: bar.update(1)) if bar is not None else (lambda: None)
    finally:
        if bar is not None:
            bar.close()


def _timed(fn: Callable[[int], T], index: int) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn(index)
    return value, time.perf_counter() - start


def run_rows(
    fn: Callable[[int], T],
    total: int,
    *,
    max_workers: int = DEFAULT_MAX_WORKERS,
    desc: str | None = None,
) -> list[tuple[T, float]]:
    """``[(fn(i), seconds) for i in range(total)]``, up to ``max_workers`` rows at once.

    The first row error cancels the rows not started and is raised; a KeyboardInterrupt
    raises :class:`RowsInterrupted` with the rows finished by then.
    """
    results: dict[int, tuple[T, float]] = {}
    with _progress(total, desc) as advance:
        if max_workers <= 1 or total <= 1:
            for i in range(total):
                try:
                    results[i] = _timed(fn, i)
                except KeyboardInterrupt:
                    raise RowsInterrupted(results, total) from None
                advance()
            return [results[i] for i in range(total)]

        pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="spanrun-eval")
        futures: dict[Future[tuple[T, float]], int] = {}
        try:
            for i in range(total):
                # One context copy per row: a Context can be entered by one thread at a time.
                ctx = contextvars.copy_context()
                futures[pool.submit(ctx.run, _timed, fn, i)] = i
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    results[futures[fut]] = fut.result()  # raises the row's error
                    advance()
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            done = {
                futures[f]: f.result()
                for f in futures
                if f.done() and not f.cancelled() and f.exception() is None
            }
            raise RowsInterrupted(done, total) from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return [results[i] for i in range(total)]

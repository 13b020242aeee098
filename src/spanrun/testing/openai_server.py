"""A local OpenAI-compatible HTTP server for tests, demos and benchmarks (no API key needed).

Usage::

    from spanrun.testing.openai_server import OpenAIServer

    with OpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])

or from a shell: ``python -m spanrun.testing.openai_server --port 8000``.

Endpoints: ``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/responses`` (JSON, or server-sent events with ``stream=true``) and ``GET /v1/models``.
Answers are deterministic and derived from the request ("Echo: <last user text>"; tool calls
when tools are offered, with arguments that fit the tool's JSON schema; JSON that fits a
``json_schema`` response format). A model name containing ``does-not-exist`` answers 404.

Behaviour switches go in the ``x-spanrun-fake`` request header, ``;``-separated:

==========================  ====================================================================
``error=429``               answer that HTTP status with OpenAI's error JSON
``delay=0.5``               sleep before answering (client timeouts; overrides the server's
                            ``delay``: ``OpenAIServer(delay=0.5)`` / ``--delay-ms 500``, the
                            latency of every request, as a real endpoint's)
``chunk_delay=0.1``         sleep between stream chunks (slow streams)
``chunks=100``              split the streamed text into exactly that many content chunks
``break_after=3``           drop the connection after that many stream chunks
``error_event_after=3``     send an ``error`` SSE event after that many chunks
``refusal``                 the model refuses
``tools=all`` / ``none``    call every offered tool / answer in text despite tools
``cached_tokens=N``         usage details (also ``reasoning_tokens=N``)
``prompt_tokens=1e999``     chat usage with that (odd) prompt token count
``content=text``            answer exactly this text
``retry``                   let the client retry errors (by default ``x-should-retry: false``)
``first=2``                 with ``error=``: only the first 2 requests with this header fail
``retry_after_ms=10``       send ``retry-after-ms`` with errors (the client's retry delay)
``share=0.3``               with ``error=``: only that share of the requests with this header
                            fail, spread evenly (the 4th, 7th, 10th, ... for 0.3)
``busy_above=8``            answer 429 at once when more than 8 requests are in flight (this
                            one included): an endpoint with a concurrency limit (for every
                            request: ``OpenAIServer(busy_above=8)`` / ``--busy-above 8``, a
                            429 the client may retry)
``judge=malformed``         a grading prompt gets no verdict (also ``fenced``: JSON in a code
                            fence with text around it; ``lines``: MLflow's two-line format)
``score=4``                 a grading prompt gets this score
==========================  ====================================================================

A chat request asking for a ``score`` and a ``justification`` (an LLM-judge grading prompt) is
answered with ``{"score": N, "justification": "..."}``, N derived from the prompt (the share of
the reference words found in the graded output; see ``_judge_answers``).

Requests received are kept (bounded) in :attr:`OpenAIServer.requests` so tests can check what
the client really sent; :attr:`~OpenAIServer.received` counts them and
:attr:`~OpenAIServer.max_in_flight` is the most handled at once (client concurrency limits),
:attr:`~OpenAIServer.statuses` counts the answers by HTTP status.
"""

from __future__ import annotations

import argparse
import collections
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from spanrun.testing import _fake_answers as fake

__all__ = ["OpenAIServer", "RecordedRequest"]

FAKE_HEADER = "x-spanrun-fake"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # small writes must not wait for delayed ACKs
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benchmarks

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        self._answered()
        self.server.answered(status)
        body = json.dumps(payload).encode()
        head = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "x-request-id: req_spanrun",
        ]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _stream(self, events: list[tuple[str | None, Any]], d: fake.Directives) -> None:
        """Send SSE ``events`` ((event name, data) pairs) as one chunked response."""
        self._answered()
        self.server.answered(200)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            "Transfer-Encoding: chunked\r\nx-request-id: req_spanrun\r\n\r\n"
        )
        out = self.wfile
        out.write(head.encode())
        for sent, (name, data) in enumerate(events):
            if d.break_after is not None and sent >= d.break_after:
                # An abrupt end mid-stream: no terminating chunk, connection closed.
                self.close_connection = True
                out.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if d.error_event_after is not None and sent >= d.error_event_after:
                error = fake.error_json(500)["error"]
                if name is None:  # chat/completions streams carry errors in a data line
                    text = f"data: {json.dumps({'error': error})}\n\n"
                else:
                    payload = {**error, "type": "error", "sequence_number": sent}
                    payload["code"] = payload["code"] or "server_error"
                    text = f"event: error\ndata: {json.dumps(payload)}\n\n"
                self._write_chunk(text.encode())
                break
            if d.chunk_delay and sent:
                out.flush()
                time.sleep(d.chunk_delay)
            line = data if isinstance(data, str) else json.dumps(data)
            text = f"event: {name}\ndata: {line}\n\n" if name else f"data: {line}\n\n"
            self._write_chunk(text.encode())
        out.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    # ------------------------------------------------------------------ routes

    def do_GET(self) -> None:
        self.server.record(RecordedRequest("GET", self.path, dict(self.headers.items()), None))
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            self._send(200, fake.models_json())
        elif "/models/" in path:
            name = path.rsplit("/", 1)[-1]
            self._send(200, fake.model_json(name))
        else:
            self._send(404, fake.error_json(404), {"x-should-retry": "false"})

    def do_POST(self) -> None:
        self._in_flight = True
        self._arrived_with = self.server.enter()
        try:
            self._post()
        finally:
            self._answered()

    def _answered(self) -> None:
        # Before the answer is written: a client that got it may send its next request at once,
        # which must not find this one still counted.
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.server.leave()

    def _post(self) -> None:
        body = self._read_body()
        self.server.record(RecordedRequest("POST", self.path, dict(self.headers.items()), body))
        header = self.headers.get(FAKE_HEADER)
        try:
            d = fake.parse_directives(header)
            first = int(d.extra["first"]) if "first" in d.extra else None
            share = float(d.extra["share"]) if "share" in d.extra else None
            busy_above = int(d.extra["busy_above"]) if "busy_above" in d.extra else None
        except ValueError:
            self._send(400, fake.error_json(400), {"x-should-retry": "false"})
            return
        no_retry = {} if d.retry else {"x-should-retry": "false"}
        if "retry_after_ms" in d.extra:
            no_retry["retry-after-ms"] = d.extra["retry_after_ms"]
        if busy_above is not None and self._arrived_with > busy_above:
            # A concurrency limit answers at once, before any work (as real gateways do).
            self._send(429, fake.error_json(429), no_retry)
            return
        limit = self.server.busy_above
        if busy_above is None and limit is not None and self._arrived_with > limit:
            self._send(429, fake.error_json(429), {"x-should-retry": "true"})
            return
        delay = d.delay or self.server.delay
        if delay:
            time.sleep(delay)
        if not isinstance(body, dict):
            self._send(400, fake.error_json(400), no_retry)
            return
        model = str(body.get("model") or "")
        if d.error is not None and (first is not None or share is not None):
            n = self.server.seen(header)
            if first is not None and n > first:
                d.error = None  # only the first k requests with this header fail
            if share is not None and int(n * share) == int((n - 1) * share):
                d.error = None  # only that share of them fail, spread evenly
        if d.error is not None or "does-not-exist" in model:
            status = d.error if d.error is not None else 404
            self._send(status, fake.error_json(status, model), no_retry)
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        stream = body.get("stream") is True
        if path.endswith("/chat/completions"):
            plan = fake.plan_chat(body, d)
            if stream:
                chunks = fake.chat_chunks(plan, body, d)
                self._stream([(None, c) for c in chunks] + [(None, "[DONE]")], d)
            else:
                self._send(200, fake.chat_json(plan))
        elif path.endswith("/completions"):
            if stream:
                chunks = fake.completion_chunks(body, d)
                self._stream([(None, c) for c in chunks] + [(None, "[DONE]")], d)
            else:
                self._send(200, fake.completion_json(body, d))
        elif path.endswith("/embeddings"):
            self._send(200, fake.embeddings_json(body))
        elif path.endswith("/responses"):
            if stream:
                events = fake.responses_events(body, d)
                self._stream([(e["type"], e) for e in events], d)
            else:
                self._send(200, fake.responses_json(body, d))
        else:
            self._send(404, fake.error_json(404), no_retry)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default listen backlog (5) refuses bursts of simultaneous connections (ReadError).
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], keep: int, delay: float, busy_above: int | None
    ) -> None:
        super().__init__(address, _Handler)
        self.delay = delay
        self.busy_above = busy_above
        self.requests: collections.deque[RecordedRequest] = collections.deque(maxlen=keep)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.received = 0
        self.by_header: collections.Counter[str | None] = collections.Counter()
        self.statuses: collections.Counter[int] = collections.Counter()

    def record(self, request: RecordedRequest) -> None:
        self.requests.append(request)

    def enter(self) -> int:
        """Count a request in; the requests in flight now, this one included."""
        with self.lock:
            self.received += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.in_flight

    def answered(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def seen(self, header: str | None) -> int:
        """How many requests carried this directive header, this one included."""
        with self.lock:
            self.by_header[header] += 1
            return self.by_header[header]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-stream are expected in tests


class OpenAIServer:
    """A local OpenAI-compatible server on ``host:port`` (port 0 picks a free one); ``delay``
    (seconds) is slept before every answer, a real endpoint's latency; with ``busy_above``, a
    request arriving when more than that many are in flight gets a (retryable) 429 at once."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_requests: int = 100,
        delay: float = 0.0,
        busy_above: int | None = None,
    ) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        if busy_above is not None and busy_above < 1:
            raise ValueError(f"busy_above must be >= 1, got {busy_above!r}")
        self._delay = delay
        self._busy_above = busy_above
        self._host = host
        self._port = port
        self._keep = keep_requests
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (no ``/v1``)."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as the OpenAI client's ``base_url``: ``http://host:port/v1``."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The most recent requests received, oldest first."""
        return list(self._httpd.requests) if self._httpd is not None else []

    @property
    def received(self) -> int:
        """POST requests received since the start (or :meth:`clear_requests`), unbounded."""
        return self._httpd.received if self._httpd is not None else 0

    @property
    def max_in_flight(self) -> int:
        """The most POST requests handled at the same time since :meth:`clear_requests`."""
        return self._httpd.max_in_flight if self._httpd is not None else 0

    @property
    def statuses(self) -> dict[int, int]:
        """How many answers of each HTTP status were sent since :meth:`clear_requests`."""
        if self._httpd is None:
            return {}
        with self._httpd.lock:
            return dict(self._httpd.statuses)

    def clear_requests(self) -> None:
        """Forget the recorded requests, counters and ``first=k`` counts."""
        if self._httpd is not None:
            with self._httpd.lock:
                self._httpd.requests.clear()
                self._httpd.received = 0
                self._httpd.max_in_flight = 0
                self._httpd.by_header.clear()
                self._httpd.statuses.clear()

    def start(self) -> OpenAIServer:
        if self._httpd is None:
            self._httpd = _HTTPServer(
                (self._host, self._port), self._keep, self._delay, self._busy_above
            )
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="spanrun-openai-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible server for testing.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--delay-ms", type=float, default=0.0, help="latency of every answer (milliseconds)"
    )
    parser.add_argument(
        "--busy-above",
        type=int,
        default=None,
        help="answer 429 to a request arriving when more than this many are in flight",
    )
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
    if args.busy_above is not None and args.busy_above < 1:
        parser.error("--busy-above must be >= 1")
    server = OpenAIServer(
        args.host, args.port, delay=args.delay_ms / 1000, busy_above=args.busy_above
    ).start()
    print(f"OpenAI-compatible server on {server.base_url} (Ctrl+C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

"""A real OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

Real HTTP rather than a mocked client, so tests exercise the same sockets,
timeouts and body limits as production, and so worker processes started by
fault tests can call it too. It runs on aiohttp.web in a background thread
with its own event loop; latency is an ``asyncio.sleep``, never a thread per
request, so hundreds of concurrent calls cost almost no CPU and benchmarks
measure the engine rather than the fake.

Routes
    POST /v1/chat/completions   OpenAI chat completions (non-streaming)
    GET  /v1/models             one model, ``fake-model``
    POST /agent                 an HTTP agent: ``{"input": ...}`` -> ``{"output": "..."}``
    GET  /_fake/stats           counters, for a server in another process
    POST /_fake/control         ``{"reset": true, "faults": [...], "always": "500",
                                "latency": 0.1, "rpm_limit": 60, "retry_after": 1}``

Default answers are deterministic so tests can predict them:
    * a judge-looking request (the system prompt contains "JSON", or
      ``response_format`` asks for JSON) gets JSON: ``{"score": n, ...}`` when
      the last user message contains ``FAKE_SCORE: n``, ``{"verdict":
      "pass"|"fail", ...}`` for ``FAKE_VERDICT: pass|fail``, else
      ``{"score": 5, "reason": "fake judge: looks correct"}``;
    * any other request gets the text after ``FAKE_ANSWER:`` (to the end of
      that line) if present, else ``"answer to: <first 60 chars of the last
      user message>"``. ``/agent`` answers the same way from its ``input``.

``responder(body)`` (chat) and ``agent_responder(body)`` (/agent) replace the
default answer: a str is the content (the agent's output), a dict the whole
200 body, a ``Fault`` that fault. ``set(responder="text")`` (also through
``/_fake/control``) answers every request with that fixed str or dict.

Faults (``queue_faults`` consumes one per request, FIFO, before normal
answers; ``set(always=...)`` applies one to every request until ``reset``).
Pass a name or a ``Fault`` for parameters:
    "429"            429 rate_limit_exceeded with ``Retry-After`` (Fault.retry_after,
                     else the server's ``retry_after``; a str is sent verbatim,
                     e.g. an HTTP-date, and "" omits the header)
    "quota"          429 insufficient_quota (no Retry-After)
    "500", "503", any other 3-digit status
                     that status with an OpenAI-style error body
    "timeout"        hang Fault.seconds (30) then answer; cut short by stop()
    "malformed"      200 with a body that is not JSON
    "empty_choices"  200 with ``choices: []``
    "length"         200, content cut in half, finish_reason "length"
    "refusal"        200, content null, ``message.refusal`` set
    "huge"           200 with a Fault.size (5 MB) body, chunked unless
                     Fault(chunked=False), which declares Content-Length
On ``/agent`` the choice-shaped faults (empty_choices, length, refusal) give
``{}``: a 200 without the output field.

RPM limit: with ``rpm_limit`` set, a request beyond that many accepted in the
last 60 s gets a 429 with Retry-After (seconds until the oldest leaves the
window) before any fault or latency; ``rejected_429`` counts those only.

Counters: ``request_count`` (all received), ``rejected_429`` (RPM only),
``huge_aborted`` (chunked "huge" bodies the client stopped reading),
``in_flight`` / ``max_in_flight`` (answers being prepared at once: a client's
concurrency cap shows here); ``stats()`` returns them all.

``requests`` holds every received body (chat and agent) as a dict, plus
``_path`` and ``_headers`` (Authorization and X-* headers, lower-cased).

Command line (benchmarks, cross-process tests)::

    python -m tests.fakellm --port 0 --latency 0.1 --rpm 600
    LISTENING http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

MODEL = "fake-model"
_NAMED_FAULTS = frozenset(
    {"429", "quota", "timeout", "malformed", "empty_choices", "length", "refusal", "huge"}
)
_CHOICE_FAULTS = frozenset({"empty_choices", "length", "refusal"})
_SCORE = re.compile(r"FAKE_SCORE:\s*([-+]?\d+(?:\.\d+)?)")
_VERDICT = re.compile(r"FAKE_VERDICT:\s*(pass|fail)", re.IGNORECASE)
_ANSWER = re.compile(r"FAKE_ANSWER:[ \t]*([^\r\n]*)")
_SETTABLE = ("latency", "rpm_limit", "responder", "agent_responder", "retry_after", "always")
_REPO_ROOT = Path(__file__).resolve().parent.parent

Responder = Callable[[dict[str, Any]], "str | dict[str, Any] | Fault"]


@dataclass(frozen=True)
class Fault:
    """A fault with parameters; a bare name is ``Fault(name)``."""

    kind: str
    retry_after: float | str | None = None
    seconds: float = 30.0
    size: int = 5_000_000
    chunked: bool = True
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in _NAMED_FAULTS and not (
            len(self.kind) == 3 and self.kind.isdigit() and 400 <= int(self.kind) <= 599
        ):
            raise ValueError(f"unknown fault {self.kind!r}")


def as_fault(value: str | int | Fault | Mapping[str, Any]) -> Fault:
    if isinstance(value, Fault):
        return value
    if isinstance(value, Mapping):
        return Fault(**value)
    return Fault(str(value))


class FakeLLM:
    """The server. Configure with keywords, ``set()`` at runtime, ``reset()`` between tests."""

    rpm_window = 60.0

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rpm_limit: int | None = None,
        responder: Responder | None = None,
        agent_responder: Responder | None = None,
        retry_after: float = 1.0,
        always: str | Fault | None = None,
        api_key: str | None = None,
        record: bool = True,
        port: int = 0,
    ) -> None:
        self._defaults: dict[str, Any] = {
            "latency": latency,
            "rpm_limit": rpm_limit,
            "responder": responder,
            "agent_responder": agent_responder,
            "retry_after": retry_after,
            "always": None if always is None else as_fault(always),
        }
        self.api_key = api_key
        self.record = record
        self._port = port
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._window: deque[float] = deque()
        self.requests: list[dict[str, Any]] = []
        self.request_count = 0
        self.rejected_429 = 0
        self.huge_aborted = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.latency: float = latency
        self.rpm_limit: int | None = rpm_limit
        self.responder: Responder | None = responder
        self.agent_responder: Responder | None = agent_responder
        self.retry_after: float = retry_after
        self.always: Fault | None = self._defaults["always"]
        self.root: str | None = None
        self.url: str | None = None
        self.agent_url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- control (any thread) -------------------------------------------------

    def set(self, **kw: Any) -> None:
        """Change latency, rpm_limit, responder, agent_responder, retry_after or always."""
        unknown = set(kw) - set(_SETTABLE)
        if unknown:
            raise TypeError(f"FakeLLM.set() got unknown settings {sorted(unknown)}")
        if kw.get("always") is not None:
            kw["always"] = as_fault(kw["always"])
        for name in ("responder", "agent_responder"):
            # A fixed answer (what /_fake/control can send): every request gets it.
            if isinstance(kw.get(name), str | dict):
                kw[name] = lambda body, fixed=kw[name]: fixed
        with self._lock:
            for name, value in kw.items():
                setattr(self, name, value)

    def queue_faults(self, *faults: str | int | Fault | Mapping[str, Any]) -> None:
        parsed = [as_fault(f) for f in faults]
        with self._lock:
            self._faults.extend(parsed)

    def reset(self) -> None:
        """Back to the constructor's settings, with no faults, requests or counts."""
        with self._lock:
            for name, value in self._defaults.items():
                setattr(self, name, value)
            self._faults.clear()
            self._window.clear()
            self.requests.clear()
            self.request_count = 0
            self.rejected_429 = 0
            self.huge_aborted = 0
            self.max_in_flight = self.in_flight

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.request_count,
            "rejected_429": self.rejected_429,
            "huge_aborted": self.huge_aborted,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "pending_faults": self.pending_faults,
        }

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> FakeLLM:
        """Serve from a daemon thread; returns once the port is bound. Idempotent."""
        if self._thread is not None and self._thread.is_alive():
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="fakellm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("FakeLLM did not start within 10 s")
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving; hanging "timeout" requests are released at once."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = self._loop = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _open(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/agent", self._agent)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_post("/_fake/control", self._control)
        self._stopping = asyncio.Event()
        # handler_cancellation: a client that gave up (timeout test) frees
        # its handler instead of leaving it asleep for 30 s.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await runner.setup()
        # A deep backlog so 200+ simultaneous connects are not SYN-dropped
        # (a dropped SYN costs the client a 1 s retransmit and skews benches).
        site = web.TCPSite(runner, "127.0.0.1", self._port, backlog=2048, reuse_address=True)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"
        self.url = f"{self.root}/v1"
        self.agent_url = f"{self.root}/agent"

    async def _close(self) -> None:
        assert self._stopping is not None and self._runner is not None
        self._stopping.set()
        await self._runner.cleanup()

    # -- request handling (server thread) -------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._receive(request)
        if body is None:
            return _error(400, "We could not parse the JSON body of your request.")
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "Missing required parameter: 'messages'.")
        return await self._serve(request, body, chat=True)

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        body = await self._receive(request)
        if body is None:
            return web.json_response({"detail": "body is not JSON"}, status=400)
        return await self._serve(request, body, chat=False)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "fakellm"}],
            }
        )

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _control(self, request: web.Request) -> web.Response:
        try:
            command = await request.json()
            if command.pop("reset", False):
                self.reset()
            faults = command.pop("faults", None) or []
            self.set(**{k: v for k, v in command.items() if k in _SETTABLE})
            self.queue_faults(*faults)
        except (ValueError, TypeError) as exc:
            return web.json_response({"detail": str(exc)}, status=400)
        return web.json_response(self.stats())

    async def _receive(self, request: web.Request) -> dict[str, Any] | None:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.request_count += 1
        if self.record:
            entry = dict(body) if isinstance(body, dict) else {"_body": body}
            entry["_path"] = request.path
            entry["_headers"] = {
                k.lower(): v
                for k, v in request.headers.items()
                if k.lower() == "authorization" or k.lower().startswith("x-")
            }
            self.requests.append(entry)
        return body if isinstance(body, dict) else None

    def _admit(self) -> web.Response | Fault | None:
        """Apply the RPM window, then pick this request's fault, if any.

        Runs without awaiting, so it is atomic among the loop's handlers; the
        lock only guards against set()/reset() from the test thread.
        """
        with self._lock:
            if self.rpm_limit is not None:
                now = time.monotonic()
                window = self._window
                while window and window[0] <= now - self.rpm_window:
                    window.popleft()
                if len(window) >= self.rpm_limit:
                    self.rejected_429 += 1
                    wait = max(1, math.ceil(window[0] + self.rpm_window - now))
                    return _error(
                        429,
                        f"Rate limit reached for requests: limit {self.rpm_limit} per min.",
                        error_type="requests",
                        code="rate_limit_exceeded",
                        headers={"Retry-After": str(wait), "x-ratelimit-remaining-requests": "0"},
                    )
                window.append(now)
            if self._faults:
                return self._faults.popleft()
            return self.always

    async def _serve(
        self, request: web.Request, body: dict[str, Any], *, chat: bool
    ) -> web.StreamResponse:
        admitted = self._admit()
        if isinstance(admitted, web.Response):
            return admitted
        fault = admitted
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if fault is not None:
                response = await self._fault(request, body, fault, chat=chat)
                if response is not None:
                    return response
            answer: str | dict[str, Any] | Fault | None = None
            responder = self.responder if chat else self.agent_responder
            if responder is not None:
                answer = responder(body)
                if isinstance(answer, dict):
                    return web.json_response(answer)
                if isinstance(answer, Fault):
                    response = await self._fault(request, body, answer, chat=chat)
                    if response is not None:
                        return response
            if chat:
                content = answer if isinstance(answer, str) else default_answer(body)
                return web.json_response(completion(body, content))
            output = answer if isinstance(answer, str) else agent_answer(body)
            return web.json_response({"output": output})
        finally:
            self.in_flight -= 1

    async def _fault(
        self, request: web.Request, body: dict[str, Any], fault: Fault, *, chat: bool
    ) -> web.StreamResponse | None:
        """The fault's response, or None to answer normally (after a "timeout")."""
        kind = fault.kind
        extra = dict(fault.headers or {})
        if kind == "429":
            retry_after = self.retry_after if fault.retry_after is None else fault.retry_after
            if retry_after != "":
                extra.setdefault("Retry-After", _seconds(retry_after))
            return _error(
                429,
                "Rate limit reached for requests. Please try again later.",
                error_type="rate_limit_error",
                code="rate_limit_exceeded",
                headers=extra,
            )
        if kind == "quota":
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                error_type="insufficient_quota",
                code="insufficient_quota",
                headers=extra,
            )
        if kind.isdigit():
            return _error(int(kind), headers=extra)
        if kind == "timeout":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            if self._stopping.is_set():
                return _error(503, "fake server is stopping")
            return None
        if kind == "malformed":
            return web.Response(
                status=200,
                body=b'{"id": "chatcmpl-fake", "choices": [{"message": ',
                content_type="application/json",
                headers=extra,
            )
        if kind == "huge":
            return await self._huge(request, fault, extra)
        if not chat:  # empty_choices, length, refusal have no agent equivalent
            return web.json_response({}, headers=extra)
        if kind == "empty_choices":
            data = completion(body, "")
            data["choices"] = []
        elif kind == "length":
            full = default_answer(body)
            data = completion(body, full[: max(1, len(full) // 2)], finish_reason="length")
        else:  # refusal
            data = completion(body, "")
            message = data["choices"][0]["message"]
            message["content"] = None
            message["refusal"] = "I'm sorry, I can't help with that."
        return web.json_response(data, headers=extra)

    async def _huge(
        self, request: web.Request, fault: Fault, extra: dict[str, str]
    ) -> web.StreamResponse:
        head = b'{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"'
        tail = b'"}}]}'
        filler = max(0, fault.size - len(head) - len(tail))
        if not fault.chunked:
            body = head + b"x" * filler + tail
            return web.Response(body=body, content_type="application/json", headers=extra)
        response = web.StreamResponse(headers={"Content-Type": "application/json", **extra})
        response.enable_chunked_encoding()
        chunk = b"x" * 65536
        finished = False
        try:
            await response.prepare(request)
            await response.write(head)
            while filler > 0:
                await response.write(chunk[: min(filler, len(chunk))])
                filler -= len(chunk)
            await response.write(tail)
            await response.write_eof()
            finished = True
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading, which is what the cap is for
        finally:
            if not finished:
                self.huge_aborted += 1
        return response


# -- answers ------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def default_answer(body: dict[str, Any]) -> str:
    """The deterministic content for a chat request (see the module docstring)."""
    messages = body.get("messages") or []
    system = ""
    last_user = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            system += _text(message.get("content"))
        elif role == "user":
            last_user = _text(message.get("content"))
    response_format = body.get("response_format")
    wants_json = isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )
    if "JSON" in system or wants_json:
        if match := _SCORE.search(last_user):
            number = float(match.group(1))
            score: float | int = int(number) if number.is_integer() else number
            return json.dumps({"score": score, "reason": "fake judge: FAKE_SCORE"})
        if match := _VERDICT.search(last_user):
            verdict = match.group(1).lower()
            return json.dumps({"verdict": verdict, "reason": "fake judge: FAKE_VERDICT"})
        return json.dumps({"score": 5, "reason": "fake judge: looks correct"})
    return _plain_answer(last_user)


def agent_answer(body: dict[str, Any]) -> str:
    value = body.get("input")
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return _plain_answer(text)


def _plain_answer(text: str) -> str:
    if match := _ANSWER.search(text):
        return match.group(1).strip()
    return f"answer to: {text[:60]}"


def completion(
    body: dict[str, Any], content: str, *, finish_reason: str = "stop"
) -> dict[str, Any]:
    """An OpenAI chat.completion with rough token counts (characters / 4)."""
    prompt_chars = sum(
        len(_text(m.get("content"))) for m in body.get("messages") or [] if isinstance(m, dict)
    )
    prompt_tokens = prompt_chars // 4 + 1
    completion_tokens = len(content) // 4 + 1
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL,
        "system_fingerprint": "fp_fakellm",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


_DEFAULT_MESSAGES = {
    400: ("Invalid request.", "invalid_request_error"),
    401: ("Incorrect API key provided.", "invalid_request_error"),
    403: ("You are not allowed to access this resource.", "invalid_request_error"),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error"),
    408: ("Request timed out.", "timeout"),
}


def _error(
    status: int,
    message: str | None = None,
    *,
    error_type: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    default_message, default_type = _DEFAULT_MESSAGES.get(
        status,
        ("The server had an error while processing your request. Sorry about that!", "server_error")
        if status >= 500
        else (f"Request failed with status {status}.", "invalid_request_error"),
    )
    error = {
        "message": message or default_message,
        "type": error_type or default_type,
        "param": None,
        "code": code,
    }
    return web.json_response({"error": error}, status=status, headers=headers)


def _seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- helpers for tests in this and other processes -------------------------------


@contextlib.contextmanager
def running_fake_llm(**kw: Any) -> Iterator[FakeLLM]:
    """``with running_fake_llm(latency=0.05) as fake: ...``; stopped on exit."""
    fake = FakeLLM(**kw).start()
    try:
        yield fake
    finally:
        fake.stop()


def spawn_fake_llm(
    *,
    latency: float = 0.0,
    rpm_limit: int | None = None,
    retry_after: float = 1.0,
    always: str | None = None,
    port: int = 0,
    startup_timeout: float = 15.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m tests.fakellm`` in its own process; return (process, url).

    ``url`` ends in ``/v1`` like ``FakeLLM.url``. The caller terminates the
    process. Queue faults and read counters with ``control()`` / ``stats()``.
    """
    command = [sys.executable, "-m", "tests.fakellm", "--port", str(port)]
    command += ["--latency", str(latency), "--retry-after", str(retry_after)]
    if rpm_limit is not None:
        command += ["--rpm", str(rpm_limit)]
    if always is not None:
        command += ["--always", always]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # Unbuffered, so select() sees exactly what read() will return.
    process = subprocess.Popen(command, cwd=_REPO_ROOT, env=env, stdout=subprocess.PIPE, bufsize=0)
    assert process.stdout is not None
    deadline = time.monotonic() + startup_timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([process.stdout], [], [], max(0.0, remaining))
        if not readable:
            process.kill()
            raise RuntimeError(f"fake LLM did not start within {startup_timeout} s")
        byte = process.stdout.read(1)
        if not byte:
            process.wait()
            raise RuntimeError(f"fake LLM exited with status {process.returncode}")
        line += byte
    text = line.decode().strip()
    if not text.startswith("LISTENING "):
        process.kill()
        raise RuntimeError(f"unexpected fake LLM banner {text!r}")
    return process, text.removeprefix("LISTENING ") + "/v1"


def _root(url: str) -> str:
    return url.removesuffix("/").removesuffix("/v1")


# No proxies: a developer's HTTP_PROXY must not capture calls to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def control(url: str, **command: Any) -> dict[str, Any]:
    """Reconfigure a fake LLM in another process (same keys as /_fake/control)."""
    request = urllib.request.Request(
        _root(url) + "/_fake/control",
        data=json.dumps(command).encode(),
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(request, timeout=10) as response:
        return json.load(response)


def stats(url: str) -> dict[str, Any]:
    with _OPENER.open(_root(url) + "/_fake/stats", timeout=10) as response:
        return json.load(response)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakellm", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute before 429")
    parser.add_argument(
        "--retry-after", type=float, default=1.0, help="Retry-After of '429' faults"
    )
    parser.add_argument("--always", default=None, help="a fault applied to every request")
    parser.add_argument(
        "--record", action="store_true", help="keep request bodies (memory grows per request)"
    )
    args = parser.parse_args(argv)
    fake = FakeLLM(
        latency=args.latency,
        rpm_limit=args.rpm,
        retry_after=args.retry_after,
        always=args.always,
        record=args.record,
        port=args.port,
    )
    serve_until_terminated(fake)


def serve_until_terminated(fake: FakeLLM) -> None:
    """Start ``fake``, print ``LISTENING <root>`` for the parent, serve until SIGTERM or ^C."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    fake.start()
    print(f"LISTENING {fake.root}", flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

"""The fake judge of scenario 5: tests.fakellm, answering each peer in its own grade format.

The three engines ask for a grade in different shapes, and a judge that
answers in the wrong one makes a peer fail (or pass) without grading:

* evalhub's rubric metric: fakellm's default JSON (``{"score": 5, "reason": ...}``);
* promptfoo's ``llm-rubric``: ``{"reason": ..., "pass": true, "score": 1}`` (its
  default grading prompt spells out ``{reason: string, pass: boolean, score: number}``);
* phoenix-evals' ``ClassificationEvaluator``: OpenAI structured output
  (``response_format`` json_schema with a ``label`` enum) → ``{"label": ..., "explanation": ...}``.

Same server class, latency and counters as ``bench.common.fake_judge`` (which
runs ``python -m tests.fakellm``); only the answer's content differs by request
shape, so one process serves all three engines. ``control()`` / ``stats()``
from tests.fakellm work on it as on the plain one.

    python -m bench.peer_judge --latency 0.1
    LISTENING http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REASON = "fake judge: looks correct"


def _system_text(body: dict[str, Any]) -> str:
    text = ""
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            text += content if isinstance(content, str) else ""
    return text


def _label_enum(body: dict[str, Any]) -> list[str] | None:
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    label = (schema.get("properties") or {}).get("label")
    if not isinstance(label, dict):
        return None
    return list(label.get("enum") or [])


def answer(body: dict[str, Any]) -> str | None:
    """The content for this request, or None for fakellm's default answer."""
    labels = _label_enum(body)
    if labels is not None:  # phoenix-evals classification (structured output)
        label = "pass" if "pass" in labels or not labels else labels[0]
        return json.dumps({"label": label, "explanation": REASON})
    if "pass: boolean" in _system_text(body):  # promptfoo llm-rubric
        return json.dumps({"reason": REASON, "pass": True, "score": 1})
    return None  # evalhub: the default judge JSON


@contextlib.contextmanager
def spawn(*, latency: float, startup_timeout: float = 15.0) -> Iterator[str]:
    """`python -m bench.peer_judge` in its own process group; yields its /v1 URL."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.peer_judge", "--latency", str(latency)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], startup_timeout)
        line = process.stdout.readline().decode().strip() if readable else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"fake judge did not start: {line!r}")
        yield line.removeprefix("LISTENING ") + "/v1"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main(argv: list[str] | None = None) -> None:
    from tests.fakellm import FakeLLM, serve_until_terminated

    parser = argparse.ArgumentParser(prog="python -m bench.peer_judge")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args(argv)
    # record=False: keep memory flat over thousands of requests (counters still count).
    serve_until_terminated(FakeLLM(latency=args.latency, responder=answer, record=False))


if __name__ == "__main__":
    main()

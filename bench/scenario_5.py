"""Scenario 5: peers on the same work. Scenario 1's judge run, done by evalhub,
promptfoo and an Arize Phoenix experiment, side by side.

The same N records (bench.judge_run.records), the same rubric, one fake judge
answering after L seconds, C judge calls in flight at most for everyone:

* evalhub: exactly scenario 1 (gunicorn, 2 qcluster workers × C/2, POST → finished_at);
* promptfoo: ``promptfoo eval -j C --no-cache``, prompt ``{{actual_output}}`` on the
  ``echo`` provider (no generation call), an ``llm-rubric`` assertion graded by
  ``openai:chat:judge-1`` at the fake judge; wall time = the whole command, start-up
  included (measured apart as an eval of 1 test, shown in the notes);
* Phoenix: a local ``phoenix serve`` (SQLite), the dataset uploaded through
  phoenix-client, then ``run_experiment(concurrency=C)`` whose task returns the
  record's actual_output and whose evaluator is a phoenix-evals LLM classifier
  with the same rubric (bench/peer_phoenix.py, run by the Phoenix venv); wall time =
  the experiment alone (server start and dataset upload excluded, shown in notes).

One fake judge process serves all three (bench/peer_judge.py: fakellm answering
each engine in the grade format it parses); its counters are reset before each
engine and read after, so each row shows that engine's judge calls and the most it
had in flight. A peer that made fewer than N judge calls did less work, and its row
says so. Peers live in bench/peers/ (ignored by git) and are installed on first use.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import OUTPUT_DIR, ROOT, base_env, fmt_s, free_port, stop, wait_http, web, workers
from bench.judge_run import RUBRIC, judged_run, prepare, records
from bench.peer_judge import spawn as peer_judge
from bench.report import Row

N, N_QUICK = 2000, 400
LATENCY = 0.1
CONCURRENCY = 50  # judge calls in flight, in all
WORKERS = 2  # evalhub's worker processes, CONCURRENCY // WORKERS each

PEERS = ROOT / "bench" / "peers"
PROMPTFOO = PEERS / "node_modules" / ".bin" / "promptfoo"
PROMPTFOO_SPEC = "promptfoo@0.118"
PHOENIX_VENV = PEERS / ".venv-phoenix"
PHOENIX_PYTHON = PHOENIX_VENV / "bin" / "python"
PHOENIX_PACKAGES = ("arize-phoenix", "arize-phoenix-client", "arize-phoenix-evals", "openai")
PEER_TIMEOUT = 1800.0  # seconds; a peer slower than this is a failure, not a figure

DETAILS: dict = {}


# -- running things --------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """The environment of a peer's process: ours minus evalhub's settings (LOG_LEVEL would
    silence promptfoo's summary; PYTHONPATH has no place in Phoenix's venv), no proxy."""
    # What base_env sets, not what it inherits: PATH and HOME must stay (npm's
    # install scripts failed with "prebuild-install: not found" without PATH).
    ours = {k for k, v in base_env().items() if os.environ.get(k) != v}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ours and not k.startswith(("DJANGO_", "PYTEST"))
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.update(extra)
    return env


def _run(command: list, *, log: Path, timeout: float = PEER_TIMEOUT, **kwargs) -> float:
    """Run `command` in its own process group, output to `log`; return its wall seconds.

    On a timeout or an interrupt the whole group is stopped.
    """
    with open(log, "wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            [str(c) for c in command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )
        try:
            code = process.wait(timeout=timeout)
        finally:
            stop(process)
        wall = time.monotonic() - started
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{command[0]} exited with {code} (log {log}):\n{tail}")
    return wall


def ensure_promptfoo() -> None:
    if PROMPTFOO.exists():
        return
    PEERS.mkdir(parents=True, exist_ok=True)
    if not (PEERS / "package.json").exists():
        subprocess.run(["npm", "init", "-y"], cwd=PEERS, check=True, capture_output=True)
    print(f"   installing {PROMPTFOO_SPEC} into {PEERS.relative_to(ROOT)}", flush=True)
    # --omit=optional: promptfoo's optional Playwright would try to download a
    # browser; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes sure it doesn't.
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--omit=optional", PROMPTFOO_SPEC],
        cwd=PEERS,
        env=_env(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"),
        check=True,
    )


def ensure_phoenix() -> None:
    probe = "import phoenix.client, phoenix.evals, phoenix.server, openai"
    if (
        PHOENIX_PYTHON.exists()
        and subprocess.run([PHOENIX_PYTHON, "-c", probe], capture_output=True).returncode == 0
    ):
        return
    print(f"   installing {', '.join(PHOENIX_PACKAGES)} into {PHOENIX_VENV}", flush=True)
    if not PHOENIX_PYTHON.exists():
        subprocess.run(["python3", "-m", "venv", PHOENIX_VENV], check=True)
    subprocess.run([PHOENIX_VENV / "bin" / "pip", "install", *PHOENIX_PACKAGES], check=True)


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# -- the three engines -------------------------------------------------------------------


def run_evalhub(n: int, judge_url: str) -> dict:
    """Scenario 1's run, on this scenario's judge."""
    setup = prepare(n, judge_url=judge_url, tag="s5")
    with (
        web(workers=2, threads=2) as base,
        workers(WORKERS, concurrency=CONCURRENCY // WORKERS),
    ):
        result, seen = judged_run(base, judge_url, setup)
    if result.status != "completed" or result.done != n:
        raise RuntimeError(f"evalhub run ended {result.status}, {result.done}/{n} items done")
    return {
        "wall": result.wall,
        "requests": seen["requests"],
        "max_in_flight": seen["max_in_flight"],
        "graded": result.done - result.errors,
        "passed": result.passed,
    }


def _promptfoo_config(folder: Path, n: int, judge_url: str) -> Path:
    tests = folder / "tests.csv"
    with open(tests, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["input", "expected_output", "actual_output"])
        writer.writeheader()
        writer.writerows(records(n))
    config = {
        "description": f"evalhub bench scenario 5, N={n}",
        "prompts": ["{{actual_output}}"],
        "providers": ["echo"],
        "tests": f"file://{tests}",
        "defaultTest": {
            "options": {
                "provider": {
                    "id": "openai:chat:judge-1",
                    "config": {"apiBaseUrl": judge_url, "apiKey": "sk-bench-dummy"},
                }
            },
            "assert": [
                {
                    "type": "llm-rubric",
                    # The grader sees what evalhub's and Phoenix's judges see.
                    "value": RUBRIC
                    + "\n\nQuestion: {{input}}\nExpected answer: {{expected_output}}",
                }
            ],
        },
    }
    path = folder / "promptfooconfig.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def run_promptfoo(n: int, judge_url: str) -> dict:
    from tests.fakellm import control, stats

    folder = _fresh_dir(OUTPUT_DIR / "promptfoo")
    config = _promptfoo_config(folder, n, judge_url)
    home = folder / "home"
    home.mkdir()
    env = _env(
        HOME=str(home),
        PROMPTFOO_CONFIG_DIR=str(folder / "config"),  # its SQLite results and logs
        PROMPTFOO_DISABLE_TELEMETRY="1",
        PROMPTFOO_DISABLE_UPDATE="1",
        # A user grading with OpenAI has this set. Without it promptfoo probes for
        # Google credentials (the GCP metadata server) on every llm-rubric assertion.
        OPENAI_API_KEY="sk-bench-dummy",
    )
    common = ["-c", config, "-j", CONCURRENCY, "--no-cache", "--no-table"]
    common += ["--no-progress-bar", "--no-share"]

    # First call, with cold caches: the version, and its time only as a detail.
    version_log = folder / "version.log"
    version_s = _run([PROMPTFOO, "--version"], log=version_log, cwd=folder, env=env)
    version = version_log.read_text().strip().splitlines()[-1]
    # Start-up as a user meets it: the same command on 1 test (1 judge call, L seconds).
    one = folder / "one.json"
    startup_s = _run(
        [PROMPTFOO, "eval", *common, "-n", "1", "-o", one],
        log=folder / "eval-1.log",
        cwd=folder,
        env=env,
    )

    out = folder / "results.json"
    control(judge_url, reset=True)
    wall = _run(
        [PROMPTFOO, "eval", *common, "-o", out], log=folder / "eval.log", cwd=folder, env=env
    )
    seen = stats(judge_url)

    results = json.loads(out.read_text())["results"]
    rows = results["results"]
    graded = sum(
        1
        for row in rows
        for part in (row.get("gradingResult") or {}).get("componentResults") or []
        if (part.get("assertion") or {}).get("type") == "llm-rubric"
        and "fake judge" in str(part.get("reason"))
    )
    return {
        "wall": wall,
        "version": version,
        "version_s": version_s,
        "startup_s": startup_s,
        "results": len(rows),
        "graded": graded,
        "passed": results["stats"]["successes"],
        "errors": results["stats"]["errors"],
        "requests": seen["requests"],
        "max_in_flight": seen["max_in_flight"],
    }


def run_phoenix(n: int, judge_url: str) -> dict:
    from tests.fakellm import control, stats

    folder = _fresh_dir(OUTPUT_DIR / "phoenix")
    port, grpc_port = free_port(), free_port()
    env = _env(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(folder / "working"),  # SQLite database
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    for name in ("PHOENIX_SQL_DATABASE_URL", "PHOENIX_COLLECTOR_ENDPOINT", "PHOENIX_API_KEY"):
        env.pop(name, None)
    url = f"http://127.0.0.1:{port}"
    log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed in finally)
    started = time.monotonic()
    server = subprocess.Popen(
        [PHOENIX_VENV / "bin" / "phoenix", "serve"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(url + "/healthz", timeout=180)
        server_start_s = time.monotonic() - started

        job, result = folder / "job.json", folder / "result.json"
        job.write_text(
            json.dumps(
                {
                    "phoenix_url": url,
                    "judge_url": judge_url,
                    "concurrency": CONCURRENCY,
                    "rubric": RUBRIC,
                    "records": records(n),
                }
            )
        )
        control(judge_url, reset=True)
        script_s = _run(
            [PHOENIX_PYTHON, ROOT / "bench" / "peer_phoenix.py", job, result],
            log=folder / "experiment.log",
            cwd=folder,
            env=env,
        )
        seen = stats(judge_url)
    finally:
        stop(server)
        log.close()
    outcome = json.loads(result.read_text())
    return {
        "wall": outcome["wall_s"],
        "server_start_s": server_start_s,
        "script_s": script_s,
        "requests": seen["requests"],
        "max_in_flight": seen["max_in_flight"],
        "graded": outcome["evaluation_runs"] - outcome["evaluation_errors"],
        "passed": outcome["labels"].get("pass", 0),
        **{k: outcome[k] for k in ("versions", "upload_s", "tasks_s", "task_runs", "first_error")},
        "evaluation_runs": outcome["evaluation_runs"],
    }


# -- the scenario -------------------------------------------------------------------------


def _work_note(n: int, seen: dict) -> str:
    """What the judge saw, and whether the peer did the whole job."""
    mean = seen["requests"] * LATENCY / seen["wall"]  # Little's law over the wall time
    text = (
        f"{seen['requests']} judge calls, at most {seen['max_in_flight']} in flight "
        f"({mean:.1f} on average over the wall)"
    )
    short = []
    if seen["requests"] < n:
        short.append(f"only {seen['requests']} of {n} judge calls: it did less work")
    if seen["graded"] < n:
        short.append(f"only {seen['graded']} of {n} grades parsed")
    return text + ("; " + "; ".join(short) if short else "")


def _row(n: int, evalhub: dict, name: str, peer: dict, notes: str) -> Row:
    ours, theirs = evalhub["wall"], peer["wall"]
    faster = theirs >= ours
    ratio = f"{theirs / ours:.1f}× faster" if faster else f"{ours / theirs:.1f}× slower"
    return Row(
        scenario="5",
        what=f"wall time, N={n}, C={CONCURRENCY}: evalhub vs {name}",
        measured=fmt_s(ours),
        reference=f"{fmt_s(theirs)} ({name})",
        ratio=ratio,
        target="evalhub faster",
        met=ours < theirs,
        notes=notes,
    )


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    ensure_promptfoo()
    ensure_phoenix()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with peer_judge(latency=LATENCY) as judge_url:
        evalhub = run_evalhub(n, judge_url)
        print(f"   evalhub: {fmt_s(evalhub['wall'])}", flush=True)
        promptfoo = run_promptfoo(n, judge_url)
        print(f"   promptfoo: {fmt_s(promptfoo['wall'])}", flush=True)
        phoenix = run_phoenix(n, judge_url)
        print(f"   Phoenix: {fmt_s(phoenix['wall'])}", flush=True)

    bound = n * LATENCY / CONCURRENCY
    evalhub_note = f"evalhub: {_work_note(n, evalhub)}."
    startup_share = promptfoo["startup_s"] / promptfoo["wall"]
    promptfoo_note = (
        f"promptfoo {promptfoo['version']} (`eval -j {CONCURRENCY}`, echo provider, "
        f"llm-rubric): {_work_note(n, promptfoo)}; {promptfoo['results']} results in its "
        f"JSON, {promptfoo['passed']} passed, {promptfoo['errors']} errors. Wall is the whole "
        f"command; the same eval on 1 test takes {fmt_s(promptfoo['startup_s'])} "
        f"({startup_share:.0%} of the wall). " + evalhub_note
    )
    tasks = phoenix["tasks_s"]
    phases = ""
    if tasks is not None:
        judging = phoenix["wall"] - tasks
        phases = (
            f" (run_experiment runs every task, then every evaluation: task phase "
            f"{fmt_s(tasks)} with no judge call, evaluation phase {fmt_s(judging)}, "
            f"{phoenix['requests'] * LATENCY / judging:.1f} judge calls in flight on average)"
        )
    phoenix_note = (
        f"Phoenix {phoenix['versions']['arize-phoenix']} (client "
        f"{phoenix['versions']['arize-phoenix-client']}, evals "
        f"{phoenix['versions']['arize-phoenix-evals']}; `run_experiment(concurrency="
        f"{CONCURRENCY})`, ClassificationEvaluator): {_work_note(n, phoenix)}; "
        f"{phoenix['task_runs']} task runs, {phoenix['evaluation_runs']} evaluations, "
        f"{phoenix['passed']} pass. Wall is the experiment alone{phases}; not counted: "
        f"server start {fmt_s(phoenix['server_start_s'])}, dataset upload "
        f"{fmt_s(phoenix['upload_s'])}, the whole script {fmt_s(phoenix['script_s'])}. "
        + evalhub_note
    )
    DETAILS.update(
        N=n,
        L=f"{LATENCY * 1000:.0f} ms",
        C=CONCURRENCY,
        evalhub_workers=f"{WORKERS} × {CONCURRENCY // WORKERS}",
        bound=f"{fmt_s(bound)} (N·L/C)",
        evalhub_wall=fmt_s(evalhub["wall"]),
        evalhub_judge_requests=evalhub["requests"],
        evalhub_max_in_flight=evalhub["max_in_flight"],
        promptfoo_version=promptfoo["version"],
        promptfoo_wall=fmt_s(promptfoo["wall"]),
        promptfoo_startup_1_test=fmt_s(promptfoo["startup_s"]),
        promptfoo_version_cold=fmt_s(promptfoo["version_s"]),
        promptfoo_judge_requests=promptfoo["requests"],
        promptfoo_max_in_flight=promptfoo["max_in_flight"],
        promptfoo_results=promptfoo["results"],
        phoenix_versions=", ".join(f"{k} {v}" for k, v in phoenix["versions"].items()),
        phoenix_wall=fmt_s(phoenix["wall"]),
        phoenix_task_phase=fmt_s(tasks) if tasks is not None else "?",
        phoenix_upload=fmt_s(phoenix["upload_s"]),
        phoenix_server_start=fmt_s(phoenix["server_start_s"]),
        phoenix_judge_requests=phoenix["requests"],
        phoenix_max_in_flight=phoenix["max_in_flight"],
        phoenix_evaluations=phoenix["evaluation_runs"],
    )
    if phoenix["first_error"]:
        DETAILS["phoenix_first_error"] = phoenix["first_error"][:200]
    return [
        _row(n, evalhub, "promptfoo", promptfoo, promptfoo_note),
        _row(n, evalhub, "Phoenix", phoenix, phoenix_note),
    ]

"""Scenario 5's Arize Phoenix side, run by the Phoenix venv's python (not evalhub's).

    bench/peers/.venv-phoenix/bin/python bench/peer_phoenix.py JOB.json RESULT.json

JOB.json: ``{"phoenix_url", "judge_url", "concurrency", "rubric", "records"}``, the
records being bench.judge_run.records(n). The dataset is uploaded to the running
Phoenix server (timed apart), then one experiment runs on it: the task returns
the record's ``actual_output`` (no generation call, like promptfoo's echo
provider), and the evaluator is a phoenix-evals ``ClassificationEvaluator`` (an
LLM judge: pass / fail with an explanation) given the same rubric, the
question and the expected answer, calling the fake judge through the OpenAI
SDK. ``run_experiment(concurrency=C)`` is timed from the call to its return.

This file imports only the standard library and Phoenix's packages: evalhub's
venv does not have them, and Phoenix's venv has no Django.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from importlib.metadata import version

PROMPT = """You are grading an answer to a customer's question against a rubric.

Rubric: {rubric}

Question: {question}
Expected answer: {expected}
Answer to grade: {answer}

Label the answer "pass" if it meets the rubric, else "fail", and explain why."""

# phoenix-evals' LLM wrapper puts an adaptive token bucket in front of the SDK that
# starts at 5 requests/s (ceiling 40/s) and only speeds up by 1 %/s. That is a
# throttle for real rate limits, not a concurrency cap; left at its default it
# would make this a measurement of the bucket. Set high, only `concurrency` binds,
# as for evalhub and promptfoo.
UNTHROTTLED_RPS = 100_000.0


async def main(job: dict) -> dict:
    from phoenix.client import AsyncClient
    from phoenix.evals import LLM, ClassificationEvaluator, bind_evaluator

    records = job["records"]
    first_evaluation: list[float] = []  # when the evaluation phase began

    def rubric(_: object) -> str:
        if not first_evaluation:
            first_evaluation.append(time.monotonic())
        return job["rubric"]

    client = AsyncClient(base_url=job["phoenix_url"])

    started = time.monotonic()
    dataset = await client.datasets.create_dataset(
        name=f"support-answers-{len(records)}-{uuid.uuid4().hex[:8]}",
        inputs=[{"input": r["input"]} for r in records],
        outputs=[{"expected_output": r["expected_output"]} for r in records],
        metadata=[{"actual_output": r["actual_output"]} for r in records],
        timeout=600,  # the default 5 s is too short for 2,000 examples on a busy machine
    )
    upload = time.monotonic() - started

    llm = LLM(
        provider="openai",
        model="judge-1",
        base_url=job["judge_url"],
        api_key="sk-bench-dummy",
        initial_per_second_request_rate=UNTHROTTLED_RPS,
    )
    judge = bind_evaluator(
        evaluator=ClassificationEvaluator(
            name="rubric",
            llm=llm,
            prompt_template=PROMPT,
            choices={"pass": 1.0, "fail": 0.0},
        ),
        input_mapping={
            "rubric": rubric,
            "question": "input.input",
            "expected": "expected.expected_output",
            "answer": "output",
        },
    )

    def task(metadata):
        return metadata["actual_output"]

    started = time.monotonic()
    experiment = await client.experiments.run_experiment(
        dataset=dataset,
        task=task,
        evaluators=[judge],
        experiment_name="bench-scenario-5",
        concurrency=job["concurrency"],
        print_summary=False,
    )
    wall = time.monotonic() - started

    evaluations = experiment["evaluation_runs"]
    labels = Counter((run.result or {}).get("label") for run in evaluations if run.result)
    first_error = next((run.error for run in evaluations if run.error), None)
    return {
        "versions": {
            package: version(package)
            for package in (
                "arize-phoenix",
                "arize-phoenix-client",
                "arize-phoenix-evals",
                "openai",
            )
        },
        "tasks_s": (first_evaluation[0] - started) if first_evaluation else None,
        "examples": len(dataset.examples),
        "upload_s": upload,
        "wall_s": wall,
        "task_runs": len(experiment["task_runs"]),
        "evaluation_runs": len(evaluations),
        "evaluation_errors": sum(1 for run in evaluations if run.error),
        "labels": dict(labels),
        "first_error": first_error,
        "experiment_id": experiment["experiment_id"],
    }


if __name__ == "__main__":
    job_path, result_path = sys.argv[1:3]
    with open(job_path) as f:
        job = json.load(f)
    result = asyncio.run(main(job))
    with open(result_path, "w") as f:
        json.dump(result, f, indent=2)

"""Executing one chunk of a run: claim, generate, score, write. Safe to run twice.

1. **Claim** the chunk's pending, unleased items with one conditional UPDATE
   (a token and a lease expiry). A duplicate delivery claims nothing.
2. **Generate** answers where the run has a prompt or agent, then **score**
   every item with every metric; network calls go concurrently (``calls``).
3. **Write** in one transaction: lock the claimed items still pending, bulk
   insert their scores (conflicts ignored: the unique constraint is the last
   guard), update the items, and move the run's counters once per batch.
4. **Finalize** the run when no pending item is left.
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from runs.engine import calls as calls_mod
from runs.engine import templating
from runs.engine.finalize import fail_run, finalize_run
from runs.models import (
    Agent,
    ItemStatus,
    ResponseCache,
    Run,
    RunItem,
    RunMetric,
    RunStatus,
    Score,
)

log = logging.getLogger(__name__)

MAX_REASON = 4000


@dataclass
class ScoreResult:
    run_metric_id: int
    value: float | None = None
    passed: bool | None = None
    reason: str = ""
    error: str = ""
    trials: list | None = None
    flipped: bool = False
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)


@dataclass
class ItemResult:
    item_id: int
    output: str | None
    status: str = ItemStatus.DONE
    error: str = ""
    latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    cached: bool = False
    attempts: int = 0
    scores: list[ScoreResult] = field(default_factory=list)
    passed: bool | None = None
    score: float | None = None
    flipped: bool = False


@dataclass
class MetricPlan:
    run_metric: RunMetric
    impl: object
    is_judge: bool


def _engine(key):
    return settings.EVALHUB_ENGINE[key]


def claim(run_id: int, chunk: int) -> uuid.UUID | None:
    token = uuid.uuid4()
    now = timezone.now()
    claimed = (
        RunItem.objects.filter(run_id=run_id, chunk=chunk, status=ItemStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=_engine("HEARTBEAT_STALE_AFTER")),
        )
    )
    return token if claimed else None


def load_lease(run_id: int, chunk: int, token: uuid.UUID):
    """The items of a claimed chunk, with their records, as a pipeline lease."""
    from runs.engine.pipeline import Lease

    # run and chunk first: they lead the (run, chunk, status) index. On the
    # token alone PostgreSQL scanned every run's items, 0.1 s per chunk at a
    # few million rows.
    items = list(
        RunItem.objects.filter(
            run_id=run_id, chunk=chunk, status=ItemStatus.PENDING, lease_token=token
        )
        .select_related("record")
        .order_by("index")
    )
    return Lease(chunk=chunk, token=token, items=items, results=_fresh_results(items))


@dataclass(slots=True)
class _RecordRow:
    input: object
    expected_output: object
    actual_output: object
    context: object
    metadata: object


@dataclass(slots=True)
class _ItemRow:
    """What scoring reads of an item: no model instances for 2,000-item local chunks."""

    pk: int
    output: str | None
    record: _RecordRow


def load_rows(run_id: int, chunk: int) -> list[_ItemRow]:
    """The chunk's free pending items as plain rows, locked until the transaction ends.

    For runs scored locally; call inside ``transaction.atomic()``. Rows
    another transaction holds are skipped, not waited for.
    """
    now = timezone.now()
    rows = (
        RunItem.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(run_id=run_id, chunk=chunk, status=ItemStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("index")
        .values_list(
            "pk",
            "output",
            "record__input",
            "record__expected_output",
            "record__actual_output",
            "record__context",
            "record__metadata",
        )
    )
    return [_ItemRow(pk, output, _RecordRow(*record)) for pk, output, *record in rows]


def _fresh_results(items: list[RunItem]) -> dict[int, ItemResult]:
    return {
        item.pk: ItemResult(
            item_id=item.pk,
            output=item.output if item.output is not None else item.record.actual_output,
        )
        for item in items
    }


def _relax_commits() -> None:
    """PostgreSQL: this connection's commits don't wait for the WAL flush.

    A chunk commits often (claim, heartbeat, lease renewal, one write per
    chunk) and each waited for an fsync, 10 to 40 ms on a busy disk, while
    the event loop waited on some of them. Should PostgreSQL itself crash,
    the last fraction of a second of these commits is lost whole, never in
    part: the items are pending again under an expired lease, and the sweeper
    hands them to a worker. Nothing else on the connection is weakened: the
    setting ends with the connection, and only chunk tasks set it.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")


def needs_network(run: Run, plans: list[MetricPlan]) -> bool:
    return run.generates or (any(p.is_judge for p in plans) and not run.is_sandbox)


def run_chunk(run_id: int, chunk: int) -> dict:
    """Process one chunk of a run (and, for provider runs, the run's next free
    chunks: see ``pipeline``). Returns a small summary for the task log."""
    began = time.monotonic()
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.is_finished:
        return {"run": run_id, "chunk": chunk, "skipped": "finished"}
    _relax_commits()
    plans = [
        MetricPlan(rm, _impl(rm), rm.metric.kind == "judge")
        for rm in RunMetric.objects.filter(run_id=run_id).select_related("metric")
    ]
    run = Run.objects.select_related("judge_model", "prompt_version__model", "agent__model").get(
        pk=run_id
    )
    if needs_network(run, plans):
        token = claim(run_id, chunk)
        if token is None:
            finalize_run(run_id)
            return {"run": run_id, "chunk": chunk, "claimed": 0}
        _mark_running(run_id)
        from runs.engine.pipeline import run_network

        lease = load_lease(run_id, chunk, token)
        loaded = time.monotonic()
        summary = run_network(run, plans, lease)
        claimed, written, fatal, chunks = (
            summary.claimed,
            summary.written,
            summary.fatal,
            summary.chunks,
        )
        evaluated = stored = time.monotonic()  # written chunk by chunk, logged there
    else:
        # Local metrics take milliseconds: the chunk is scored and written in
        # the one transaction that locks its items, with no lease to write
        # and clear (each item row was written three times). A duplicate
        # delivery skips the locked rows; should this worker die, PostgreSQL
        # rolls back and the items are pending and free again. A cancel
        # waits for the chunk to commit, then skips what is still pending.
        _mark_running(run_id)
        with transaction.atomic():
            items = load_rows(run_id, chunk)
            loaded = time.monotonic()
            results = score_locally(run, items, plans, _fresh_results(items), network=False)
            evaluated = time.monotonic()
            written = _store(run, results) if results else 0
        stored = time.monotonic()
        if not items:
            finalize_run(run_id)
            return {"run": run_id, "chunk": chunk, "claimed": 0}
        claimed, fatal, chunks = len(items), "", [chunk]
    if fatal:
        fail_run(run_id, fatal)
    else:
        finalize_run(run_id)
    done = time.monotonic()
    # One line per task: where its time went, for operators and the benchmarks.
    log.info(
        "run %s chunk %s: %s items in %s chunk(s), load %.3f s, evaluate %.3f s, "
        "write %.3f s, finalize %.3f s",
        run_id,
        chunk,
        claimed,
        len(chunks),
        loaded - began,
        evaluated - loaded,
        stored - evaluated,
        done - stored,
    )
    return {"run": run_id, "chunk": chunk, "chunks": chunks, "claimed": claimed, "written": written}


def _mark_running(run_id: int) -> None:
    now = timezone.now()
    Run.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, updated_at=now
    )


def _impl(run_metric: RunMetric):
    from runs.metrics import get_metric

    return get_metric(run_metric.metric.slug)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def _sample(item: RunItem, output: str):
    from runs.metrics import Sample

    record = item.record
    return Sample(
        output=output or "",
        input=record.input,
        expected_output=record.expected_output,
        context=record.context,
        metadata=record.metadata or {},
    )


def score_locally(
    run: Run,
    items: list[RunItem],
    plans: list[MetricPlan],
    results: dict[int, ItemResult],
    *,
    network: bool,
) -> list[ItemResult]:
    """Add the local metrics' scores to ``results`` and decide each item.

    ``network``: the judge metrics were scored over the network already
    (a sandbox run scores them here, without calling anyone).
    """
    local = [p for p in plans if not (p.is_judge and network and not run.is_sandbox)]
    for item in items:
        result = results[item.pk]
        if result.status == ItemStatus.ERROR and not result.scores:
            continue
        if local:
            sample = _sample(item, result.output)
            for plan in local:
                result.scores.append(_score_locally(run, plan, item, sample))
        _decide(result, plans)
    return list(results.values())


def _score_locally(run: Run, plan: MetricPlan, item: RunItem, sample) -> ScoreResult:
    rm = plan.run_metric
    if plan.is_judge:  # sandbox: validated, never sent to a provider
        return ScoreResult(
            run_metric_id=rm.pk,
            value=None,
            passed=True,
            reason="Sandbox run: no provider was called and nothing was spent.",
        )
    try:
        res = plan.impl.score(sample, rm.args)
    except Exception as err:  # a metric bug must cost one item, never the chunk
        log.exception("metric %s failed on item %s", rm.label, item.pk)
        return ScoreResult(run_metric_id=rm.pk, error=f"{type(err).__name__}: {err}"[:MAX_REASON])
    return ScoreResult(
        run_metric_id=rm.pk,
        value=res.value,
        passed=res.passed,
        reason=(res.reason or "")[:MAX_REASON],
    )


def _decide(result: ItemResult, plans: list[MetricPlan]) -> None:
    """An item passes when every deciding (non-informational) metric passed."""
    informational = {p.run_metric.pk for p in plans if p.run_metric.informational}
    deciding = [s for s in result.scores if s.run_metric_id not in informational]
    errors = [s.error for s in result.scores if s.error]
    if errors and result.status != ItemStatus.ERROR:
        result.status = ItemStatus.ERROR
        result.error = errors[0]
    if result.status == ItemStatus.ERROR:
        result.passed = None
    elif deciding:
        result.passed = all(s.passed for s in deciding)
    values = [s.value for s in deciding if s.value is not None]
    result.score = statistics.fmean(values) if values else None
    result.flipped = any(s.flipped for s in result.scores)
    result.cached = result.cached or any(s.cached for s in result.scores)
    for s in result.scores:
        result.prompt_tokens += s.prompt_tokens
        result.completion_tokens += s.completion_tokens
        result.cost += s.cost


def _generation_call(run: Run, item: RunItem):
    pv, agent = run.prompt_version, run.agent
    record_input = item.record.input
    if pv is not None:
        user = templating.render(pv.template, record_input)
        system = pv.system_prompt or (agent.system_prompt if agent else "")
    else:
        user = item.record.input_text
        system = agent.system_prompt if agent else ""
    if agent is not None and agent.kind == Agent.Kind.HTTP:
        payload = {"input": record_input, "record_id": str(item.record.uuid)}
        if pv is not None:
            payload["prompt"] = user
        endpoint = calls_mod.HttpAgentEndpoint(
            url=agent.endpoint_url,
            headers=agent.headers or {},
            timeout=agent.timeout_seconds,
            output_field=agent.output_field or "output",
        )
        key = calls_mod.cache_key(f"http:{agent.endpoint_url}", payload, agent.headers)
        return calls_mod.Call(key=key, model=None, agent=endpoint, payload=payload)
    model = agent.model if agent is not None and agent.model_id else pv.model
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}
    ]
    params = {**(agent.params if agent else {}), **(pv.params if pv else {})}
    key = calls_mod.cache_key(model.slug, messages, params)
    return calls_mod.Call(key=key, model=model, messages=messages, params=params)


def _prefetch_cache(keys: list[str]) -> dict[str, dict]:
    found = {}
    for start in range(0, len(keys), 500):
        for row in ResponseCache.objects.filter(pk__in=keys[start : start + 500]).values(
            "key", "content", "prompt_tokens", "completion_tokens"
        ):
            found[row["key"]] = row
    return found


def _judge_score(rm_id, trials, model, JudgeResponseError) -> ScoreResult:
    score = ScoreResult(run_metric_id=rm_id)
    values, verdicts, reasons = [], [], []
    for plan, outcome in trials:
        score.prompt_tokens += outcome.prompt_tokens
        score.completion_tokens += outcome.completion_tokens
        score.cached = score.cached or outcome.cached
        if outcome.error:
            score.error = outcome.error[:MAX_REASON]
            continue
        try:
            parsed = plan.impl.parse(outcome.content, plan.run_metric.args)
        except JudgeResponseError as err:
            score.error = f"Judge answer rejected: {err}"[:MAX_REASON]
            continue
        values.append(parsed.value)
        verdicts.append(parsed.passed)
        reasons.append(parsed.reason)
    score.cost = model.cost_of(score.prompt_tokens, score.completion_tokens)
    if score.error:
        return score
    numeric = [v for v in values if v is not None]
    score.value = statistics.fmean(numeric) if numeric else None
    if len(trials) > 1:
        score.trials = [{"value": v, "passed": p} for v, p in zip(values, verdicts, strict=True)]
        score.flipped = len({bool(p) for p in verdicts}) > 1
        score.passed = sum(bool(p) for p in verdicts) * 2 > len(verdicts)
    else:
        score.passed = verdicts[0]
    score.reason = (reasons[0] or "")[:MAX_REASON]
    return score


def _status_and_beat(run_id: int) -> str:
    now = timezone.now()
    Run.objects.filter(pk=run_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).update(
        heartbeat_at=now
    )
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()


def _store_cache(entries: dict[str, dict]) -> None:
    if not entries:
        return
    ResponseCache.objects.bulk_create(
        [
            ResponseCache(
                key=key,
                model=e["model"],
                content=e["content"],
                prompt_tokens=e["prompt_tokens"],
                completion_tokens=e["completion_tokens"],
            )
            for key, e in entries.items()
        ],
        ignore_conflicts=True,
        batch_size=500,
    )


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

ITEM_FIELDS = [
    "status",
    "output",
    "error",
    "passed",
    "score",
    "flipped",
    "cached",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "attempts",
    "finished_at",
    "lease_token",
    "lease_until",
]


def write_results(run: Run, chunk: int, token: uuid.UUID, results: list[ItemResult]) -> int:
    """Write what this worker computed for items it still holds; returns how many."""
    if not results:
        return 0
    now = timezone.now()
    with transaction.atomic():
        # The lease names the items: (run, chunk, status) leads an index, where
        # a list of 2,000 ids cost 50 ms to build into SQL. No ordering:
        # RunItem's default (run, index) joined runs_run, and FOR UPDATE then
        # locked the run row too.
        held = set(
            RunItem.objects.select_for_update(of=("self",))
            .filter(run_id=run.pk, chunk=chunk, status=ItemStatus.PENDING, lease_token=token)
            .order_by()
            .values_list("pk", flat=True)
        )
        mine = [r for r in results if r.item_id in held]
        return _store(run, mine, now) if mine else 0


def _store(run: Run, mine: list[ItemResult], now=None) -> int:
    """Write scores and item results of items this transaction holds; move the counters."""
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        _write_pg(mine, now)
    else:
        _write_portable(mine, now)
    # One counter update per batch, not per item: a per-item F() update on
    # the run row serialises every worker on that row. Last, so the run row
    # is locked only for the commit.
    Run.objects.filter(pk=run.pk).update(
        completed_count=F("completed_count") + len(mine),
        heartbeat_at=now,
        updated_at=now,
    )
    return len(mine)


def _write_portable(mine: list[ItemResult], now) -> None:
    Score.objects.bulk_create(
        [
            Score(
                item_id=r.item_id,
                run_metric_id=s.run_metric_id,
                value=s.value,
                passed=s.passed,
                reason=s.reason,
                error=s.error,
                trials=s.trials,
                flipped=s.flipped,
                cached=s.cached,
                prompt_tokens=s.prompt_tokens,
                completion_tokens=s.completion_tokens,
                cost=s.cost,
            )
            for r in mine
            for s in r.scores
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    RunItem.objects.bulk_update(
        [
            RunItem(
                pk=r.item_id,
                status=r.status,
                output=r.output,
                error=r.error[:MAX_REASON],
                passed=r.passed,
                score=r.score,
                flipped=r.flipped,
                cached=r.cached,
                latency_ms=r.latency_ms,
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                cost=r.cost,
                attempts=max(r.attempts, 1),
                finished_at=now,
                lease_token=None,
                lease_until=None,
            )
            for r in mine
        ],
        ITEM_FIELDS,
        batch_size=500,
    )


# Columns written on PostgreSQL, with the types of the item rows' scratch table.
_SCORE_COLUMNS = (
    "item",
    "run_metric",
    "value",
    "passed",
    "reason",
    "error",
    "trials",
    "flipped",
    "cached",
    "prompt_tokens",
    "completion_tokens",
    "cost",
)
_ITEM_COLUMNS = (
    ("id", "bigint"),
    ("status", "text"),
    ("output", "text"),
    ("error", "text"),
    ("passed", "boolean"),
    ("score", "double precision"),
    ("flipped", "boolean"),
    ("cached", "boolean"),
    ("latency_ms", "double precision"),
    ("prompt_tokens", "integer"),
    ("completion_tokens", "integer"),
    ("cost", "numeric"),
    ("attempts", "integer"),
)
_ITEM_ROWS = "evalhub_item_rows"


def _write_pg(mine: list[ItemResult], now) -> None:
    """PostgreSQL: scores by COPY; items by COPY into a scratch table and one UPDATE … FROM.

    ``bulk_update`` builds a ``CASE WHEN id = … THEN …`` per field and row:
    for 2,000 items that SQL alone costs more than scoring them. COPY rows
    are formatted by psycopg's C code. The scores need no conflict check:
    the items are locked, still pending and leased to us, and a re-run
    deletes an item's scores before it is pending again; should one exist
    anyway, the unique constraint fails the transaction and nothing is half-written.
    """
    import json

    qn = connection.ops.quote_name
    score_cols = ", ".join(qn(Score._meta.get_field(name).column) for name in _SCORE_COLUMNS)
    item_names = [name for name, _ in _ITEM_COLUMNS]
    sets = ", ".join(
        f"{qn(RunItem._meta.get_field(name).column)} = v.{qn(name)}" for name in item_names[1:]
    )
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {qn(Score._meta.db_table)} ({score_cols}) FROM STDIN") as copy:
            for r in mine:
                for s in r.scores:
                    copy.write_row(
                        (
                            r.item_id,
                            s.run_metric_id,
                            s.value,
                            s.passed,
                            s.reason,
                            s.error,
                            json.dumps(s.trials) if s.trials is not None else None,
                            s.flipped,
                            s.cached,
                            s.prompt_tokens,
                            s.completion_tokens,
                            s.cost,
                        )
                    )
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_ITEM_ROWS} ("
            + ", ".join(f"{qn(name)} {kind}" for name, kind in _ITEM_COLUMNS)
            + ") ON COMMIT DELETE ROWS"
        )
        columns = ", ".join(qn(name) for name in item_names)
        with cursor.copy(f"COPY {_ITEM_ROWS} ({columns}) FROM STDIN") as copy:
            for r in mine:
                copy.write_row(
                    (
                        r.item_id,
                        r.status,
                        r.output,
                        r.error[:MAX_REASON],
                        r.passed,
                        r.score,
                        r.flipped,
                        r.cached,
                        r.latency_ms,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.cost,
                        max(r.attempts, 1),
                    )
                )
        cursor.execute(
            f"UPDATE {qn(RunItem._meta.db_table)} AS i SET {sets}, "
            f"{qn('finished_at')} = %s, {qn('lease_token')} = NULL, {qn('lease_until')} = NULL "
            f"FROM {_ITEM_ROWS} AS v WHERE i.id = v.id",
            [now],
        )
        # Emptied now, not only at commit: inside an outer transaction (sync
        # mode, tests) the next chunk must not see these rows.
        cursor.execute(f"DELETE FROM {_ITEM_ROWS}")

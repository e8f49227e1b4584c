"""Everything decided before a run is written: metrics, outputs, judge, cost.

All checks raise :class:`InvalidInput` (or a subclass) before any row exists,
so a refused run leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from evalhub.errors import InvalidInput, NotFound
from runs.engine import templating
from runs.models import LanguageModel, Metric

# Rough token sizes of one judge or generation call, for the up-front budget check.
EST_PROMPT_TOKENS = 600
EST_COMPLETION_TOKENS = 150


@dataclass
class ResolvedMetric:
    row: Metric
    args: dict
    informational: bool = False
    label: str = ""
    impl: object = field(default=None, repr=False)

    @property
    def is_judge(self) -> bool:
        return self.row.kind == Metric.Kind.JUDGE


def metric_impl(row: Metric):
    from runs.metrics import get_metric

    return get_metric(row.slug)


def resolve_metrics(
    entries: list[tuple[Metric, dict, bool]],
    *,
    overrides: dict | None = None,
    field_prefix: str = "metrics",
) -> list[ResolvedMetric]:
    """Validate each metric's arguments: stored defaults, then per-run ``overrides``.

    ``overrides`` is seed 004's ``metric_args``: ``{"<metric id>": {arg: value}}``.
    Keys must be integer strings; entries for metrics not in ``entries`` are
    ignored, as the seed says.
    """
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise InvalidInput(
            "metric_args must be an object.", field="metric_args", code="invalid_type"
        )
    by_id: dict[int, dict] = {}
    for key, value in overrides.items():
        try:
            metric_id = int(str(key))
        except ValueError:
            raise InvalidInput(
                f"metric_args keys must be metric IDs as integer strings, got {key!r}.",
                field=f"metric_args.{key}",
                code="invalid_metric_id",
            ) from None
        if str(metric_id) != str(key).strip():
            raise InvalidInput(
                f"metric_args keys must be metric IDs as integer strings, got {key!r}.",
                field=f"metric_args.{key}",
                code="invalid_metric_id",
            )
        if value is not None and not isinstance(value, dict):
            raise InvalidInput(
                f"metric_args[{key!r}] must be an object of argument names to values.",
                field=f"metric_args.{key}",
                code="invalid_type",
            )
        by_id[metric_id] = value or {}

    resolved: list[ResolvedMetric] = []
    labels: set[str] = set()
    for position, (row, args, informational) in enumerate(entries):
        if not row.is_active:
            raise InvalidInput(
                f"Metric {row.id} ({row.slug}) is inactive.",
                field=f"{field_prefix}[{position}]",
                code="inactive_metric",
            )
        impl = metric_impl(row)
        merged = {**(args or {}), **by_id.get(row.id, {})}
        try:
            valid = impl.validate_args(merged)
        except InvalidInput as err:
            where = (
                f"metric_args.{row.id}" if row.id in by_id else f"{field_prefix}[{position}].args"
            )
            raise InvalidInput(
                f"{row.slug}: {err.message}",
                field=f"{where}.{err.field}" if err.field else where,
                code=err.code,
            ) from None
        label = row.slug
        n = 2
        while label in labels:
            label = f"{row.slug}_{n}"
            n += 1
        labels.add(label)
        resolved.append(
            ResolvedMetric(row=row, args=valid, informational=informational, label=label, impl=impl)
        )
    return resolved


def judge_model_for(slug: str | None, metrics: list[ResolvedMetric], *, fallback=None):
    """The judge model of a run: the given slug, else the config's, else the default.

    An unknown slug is seed 004's 404. A run without judge metrics needs none.
    """
    if slug:
        model = LanguageModel.objects.filter(slug=slug, is_active=True).first()
        if model is None:
            raise NotFound(
                f"model_slug {slug!r} is not a documented model slug.",
                field="model_slug",
                code="unknown_model",
            )
        return model
    if fallback is not None:
        return fallback
    if not any(m.is_judge for m in metrics):
        return None
    model = LanguageModel.objects.filter(slug=settings.DEFAULT_JUDGE_MODEL, is_active=True).first()
    if model is None:
        raise InvalidInput(
            "Judge metrics need a judge model: pass model_slug, set one on the eval config, "
            f"or add {settings.DEFAULT_JUDGE_MODEL!r} to the model catalogue.",
            field="model_slug",
            code="judge_model_required",
        )
    return model


def check_records(
    records,
    *,
    metrics: list[ResolvedMetric],
    generates: bool,
    template: str | None,
    given_record_ids: set[int] | None = None,
) -> None:
    """Refuse a run whose records cannot be scored, naming the first bad record."""
    needs_output = not generates
    required = {req for m in metrics for req in (m.impl.requires or ())}
    checks = []
    if needs_output:
        qs = records.filter(actual_output__isnull=True)
        if given_record_ids is not None:
            qs = qs.exclude(pk__in=given_record_ids)
        checks.append(
            (
                qs,
                "has no actual_output to score, and the run has no prompt or agent to generate one",
            )
        )
    if "expected_output" in required:
        names = ", ".join(m.label for m in metrics if "expected_output" in (m.impl.requires or ()))
        checks.append(
            (
                records.filter(expected_output__isnull=True),
                f"has no expected_output ({names} needs it)",
            )
        )
    if "context" in required:
        names = ", ".join(m.label for m in metrics if "context" in (m.impl.requires or ()))
        checks.append((records.filter(context__isnull=True), f"has no context ({names} needs it)"))
    for qs, why in checks:
        bad = qs.order_by("index").values_list("index", flat=True).first()
        if bad is not None:
            raise InvalidInput(
                f"Record {bad} {why}.", field=f"records[{bad}]", code="record_incomplete"
            )
    if generates and template:
        wanted = templating.variables_of(template)
        if wanted:
            for index, value in (
                records.order_by("index").values_list("index", "input").iterator(chunk_size=2000)
            ):
                missing = templating.missing_variables(template, value)
                if missing:
                    raise InvalidInput(
                        f"Record {index}'s input has no {', '.join(missing)} for the prompt template.",
                        field=f"records[{index}].input",
                        code="missing_variable",
                    )


def estimate_cost(
    *,
    item_count: int,
    metrics: list[ResolvedMetric],
    judge_model,
    generation_model,
    repetitions: int,
) -> Decimal:
    cost = Decimal("0")
    per_call = lambda model: model.cost_of(EST_PROMPT_TOKENS, EST_COMPLETION_TOKENS)  # noqa: E731
    judge_calls = sum(1 for m in metrics if m.is_judge) * repetitions
    if judge_model is not None and judge_calls:
        cost += per_call(judge_model) * item_count * judge_calls
    if generation_model is not None:
        cost += per_call(generation_model) * item_count
    return cost

"""Seed 004, Aegis: ``POST /runs/dataset`` and ``GET /runs/{run_id}``.

Errors follow the seed's list: 401/402, 422 for body validation (FastAPI's
``{"detail": [{loc, msg, type}]}``), 404 for an unknown ``model_slug`` and for
a dataset without records or metrics, 400 for an unknown dataset, bad metric
ids or args, inactive metrics and a duplicate alias.
"""

from __future__ import annotations

from rest_framework.response import Response

from datasets.models import Dataset
from evalhub.errors import InvalidInput
from runs.compat.base import CompatView
from runs.models import Run, RunItem
from runs.services import run_create_from_dataset

RUN_SOURCE_LABELS = {
    Run.Source.UI: "UI",
    Run.Source.CLI: "CLI",
    Run.Source.DEMO: "Demo",
}


class Unprocessable(InvalidInput):
    status = 422


def _int_or_none(value, field):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unprocessable("Input should be a valid integer", field=field, code="int_type")
    if isinstance(value, float) and not value.is_integer():
        raise Unprocessable(
            "Input should be a valid integer, got a number with a fractional part",
            field=field,
            code="int_from_float",
        )
    return int(value)


def parse_body(data: dict) -> dict:
    """Validate the body as the seed's schema says; raises Unprocessable (422)."""
    if "dataset_id" not in data:
        raise Unprocessable("Field required", field="dataset_id", code="missing")
    dataset_id = _int_or_none(data["dataset_id"], "dataset_id")
    if dataset_id is None:
        raise Unprocessable("Input should be a valid integer", field="dataset_id", code="int_type")
    model_slug = data.get("model_slug")
    if model_slug is not None and not isinstance(model_slug, str):
        raise Unprocessable(
            "Input should be a valid string", field="model_slug", code="string_type"
        )
    metric_args = data.get("metric_args")
    if metric_args is not None and not isinstance(metric_args, dict):
        raise Unprocessable(
            "Input should be a valid dictionary", field="metric_args", code="dict_type"
        )
    is_blocking = data.get("is_blocking", False)
    if is_blocking is None:
        is_blocking = False
    if not isinstance(is_blocking, bool):
        raise Unprocessable(
            "Input should be a valid boolean", field="is_blocking", code="bool_type"
        )
    alias = data.get("alias")
    if alias is not None:
        if not isinstance(alias, str):
            raise Unprocessable("Input should be a valid string", field="alias", code="string_type")
        if len(alias) > 255:
            raise Unprocessable(
                "String should have at most 255 characters", field="alias", code="string_too_long"
            )
    return {
        "dataset_id": dataset_id,
        "threshold": _int_or_none(data.get("threshold"), "threshold"),
        "model_slug": model_slug or None,
        "metric_args": metric_args,
        "is_blocking": is_blocking,
        "alias": alias,
    }


def _number(value):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 4)


def evaluations(run: Run) -> list[dict]:
    """Per-record results, once the run has any."""
    items = (
        RunItem.objects.filter(run=run)
        .exclude(status="pending")
        .select_related("record")
        .prefetch_related("scores__run_metric")
        .order_by("index")
    )
    out = []
    for item in items:
        scores = {s.run_metric.label: s.value for s in item.scores.all()}
        reasons = {s.run_metric.label: s.reason or s.error for s in item.scores.all()}
        out.append(
            {
                "id": item.pk,
                "record_id": item.record_id,
                "input": item.record.input,
                "expected_output": item.record.expected_output,
                "actual_output": item.output
                if item.output is not None
                else item.record.actual_output,
                "status": item.status,
                "passed": item.passed,
                "scores": scores,
                "reasons": reasons,
                "error": item.error or None,
                "cost": float(item.cost),
            }
        )
    return out


def run_body(run: Run) -> dict:
    owner_email = run.owner.email if run.owner else None
    return {
        "id": run.pk,
        "user": owner_email,
        "author_email": owner_email,
        "run_type": "Dataset",
        "run_source": RUN_SOURCE_LABELS.get(run.source, "API Call"),
        "dataset": run.dataset.name if run.dataset else None,
        "data_collection": run.workspace.name if run.workspace else None,
        "org_id": run.organization_id,
        "number_of_metrics": run.run_metrics.count(),
        "result": _number(run.result),
        "threshold": _number(run.threshold),
        "model_slug": run.judge_model.slug if run.judge_model else None,
        "alias": run.alias,
        "aggregate_results": {k: _number(v) for k, v in (run.aggregate_results or {}).items()},
        "total_cost": float(run.total_cost) if run.is_finished else None,
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "is_gte_threshold": run.is_gte_threshold,
        "evaluations": evaluations(run) if run.completed_count else [],
    }


def _time(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


class AegisView(CompatView):
    product = "aegis"
    status_for_code = {
        "dataset_not_found": 400,
        "invalid_metric_id": 400,
        "inactive_metric": 400,
        "unknown_metric": 400,
        "duplicate_alias": 400,
        "unknown_model": 404,
        "no_records": 404,
        "no_metrics": 404,
        "budget_exceeded": 402,
    }
    parse_error_status = 422

    def error_body(self, status_code, message, *, field=None, code=""):
        if status_code == 422:
            return {
                "detail": [
                    {
                        "loc": ["body", *(field.split(".") if field else [])],
                        "msg": message,
                        "type": code,
                    }
                ]
            }
        return {"detail": message}


class RunFromDataset(AegisView):
    def post(self, request):
        args = parse_body(self.body())
        dataset = (
            Dataset.objects.visible_to(request.user, organization=self.acting_organization)
            .filter(pk=args["dataset_id"])
            .first()
        )
        if dataset is None:
            return self.error(
                400, f"Dataset {args['dataset_id']} not found.", code="dataset_not_found"
            )
        run = run_create_from_dataset(
            actor=request.user,
            dataset=dataset,
            threshold=args["threshold"],
            model_slug=args["model_slug"],
            metric_args=args["metric_args"],
            alias=args["alias"],
            block=args["is_blocking"],
            source=Run.Source.AEGIS,
            acting_organization=self.acting_organization,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(run_body(_fresh(run)), status=201)


class RunDetail(AegisView):
    def get(self, request, run_id: int):
        run = (
            Run.objects.visible_to(request.user, organization=self.acting_organization)
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return self.error(404, "Run not found.", code="run_not_found")
        return Response(run_body(_fresh(run)))


def _fresh(run: Run) -> Run:
    return Run.objects.select_related("owner", "dataset", "workspace", "judge_model").get(pk=run.pk)

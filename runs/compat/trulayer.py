"""Seed 001, TruLayer: ``POST /v1/datasets/{id}/runs`` (202 EvalRun) and ``GET /v1/eval-runs/{id}``.

``{id}`` is a dataset UUID (its latest version) or a dataset version UUID;
``eval_version_id`` an eval config version; ``tenant_id`` the org's UUID.
Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import uuid

from rest_framework.response import Response

from datasets.models import Dataset, DatasetVersion
from evalhub.errors import InvalidInput
from runs.compat.base import CompatView
from runs.models import EvalConfigVersion, Run, RunStatus
from runs.services import run_create

# TruLayer's EvalRun has no "cancelled": a cancelled run did not complete.
STATUS = {
    RunStatus.PENDING: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "failed",
}
PRIVATE_TENANT_NAMESPACE = uuid.UUID("6f2b1c1e-8a53-4d0e-9a51-6b3f3e0b7d21")


def tenant_id(run: Run) -> str:
    if run.organization_id:
        return str(run.organization.uuid)
    # A private run still needs a tenant: the owner's personal one, stable per user.
    return str(uuid.uuid5(PRIVATE_TENANT_NAMESPACE, f"user:{run.owner_id}"))


def _time(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def eval_run(run: Run) -> dict:
    error = run.error_message or (
        "Run was cancelled." if run.status == RunStatus.CANCELLED else None
    )
    return {
        "id": str(run.uuid),
        "tenant_id": tenant_id(run),
        "dataset_id": str(run.dataset.uuid) if run.dataset else None,
        "eval_version_id": str(run.config_version.uuid) if run.config_version else None,
        "status": STATUS[run.status],
        "item_count": run.item_count,
        "completed_count": run.completed_count,
        "started_at": _time(run.started_at),
        "completed_at": _time(run.finished_at),
        "error_message": error,
        "created_at": _time(run.created_at),
    }


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


class TruLayerView(CompatView):
    product = "trulayer"
    status_for_code = {"no_records": 404, "no_metrics": 400, "budget_exceeded": 402}

    def error_body(self, status_code, message, *, field=None, code=""):
        return {"error": message}

    def _load(self, run_id) -> Run | None:
        parsed = _uuid(run_id)
        if parsed is None:
            return None
        return (
            Run.objects.visible_to(self.request.user, organization=self.acting_organization)
            .select_related("organization", "dataset", "config_version")
            .filter(uuid=parsed)
            .first()
        )


class ScheduleEvalRun(TruLayerView):
    def post(self, request, dataset_id):
        data = self.body()
        if "eval_version_id" not in data:
            raise InvalidInput("eval_version_id is required.", field="eval_version_id")
        version_uuid = _uuid(data["eval_version_id"])
        if version_uuid is None or not isinstance(data["eval_version_id"], str):
            raise InvalidInput("eval_version_id must be a UUID.", field="eval_version_id")
        dataset_version = self._dataset_version(dataset_id)
        if dataset_version is None:
            return self.error(404, "dataset not found")
        config_version = (
            EvalConfigVersion.objects.filter(
                uuid=version_uuid,
                config__in=_configs_visible(request.user, self.acting_organization),
            )
            .select_related("config")
            .first()
        )
        if config_version is None:
            return self.error(404, "eval version not found")
        run = run_create(
            actor=request.user,
            config_version=config_version,
            dataset_version=dataset_version,
            source=Run.Source.TRULAYER,
            acting_organization=self.acting_organization,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(eval_run(self._load(run.uuid)), status=202)

    def _dataset_version(self, value) -> DatasetVersion | None:
        parsed = _uuid(value)
        if parsed is None:
            return None
        datasets = Dataset.objects.visible_to(
            self.request.user, organization=self.acting_organization
        )
        dataset = datasets.filter(uuid=parsed).first()
        if dataset is not None:
            return dataset.latest_version()
        return DatasetVersion.objects.filter(uuid=parsed, dataset__in=datasets).first()


def _configs_visible(user, organization):
    from runs.models import EvalConfig

    return EvalConfig.objects.visible_to(user, organization=organization)


class EvalRunDetail(TruLayerView):
    def get(self, request, run_id):
        run = self._load(run_id)
        if run is None:
            return self.error(404, "eval run not found")
        return Response(eval_run(run))

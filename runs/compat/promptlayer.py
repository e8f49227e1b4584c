"""Seed 000, PromptLayer: ``POST /reports/{report_id}/run`` (201) and ``GET /reports/{report_id}``.

Only ``X-API-KEY`` authenticates here, as the seed documents. Errors are
``{"success": false, "message": "..."}``: 400 invalid data, 401 no requests
found (a refresh that matched nothing) or a bad key, 403 not a pipeline or a
refresh of a static dataset, 404 report or dataset not found.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.response import Response

from datasets.models import Dataset
from evalhub.authentication import authenticate_key
from evalhub.errors import InvalidInput
from runs.compat.base import CompatView
from runs.models import Report, Run
from runs.services import report_run


class XApiKeyAuthentication:
    """PromptLayer sends its key in ``X-API-KEY`` only."""

    def authenticate(self, request):
        if not request.META.get("HTTP_X_API_KEY"):
            return None
        return authenticate_key(request)

    def authenticate_header(self, request):
        return "X-API-KEY"


class PromptLayerView(CompatView):
    product = "promptlayer"
    authentication_classes = [XApiKeyAuthentication]
    status_for_code = {
        "report_not_found": 404,
        "dataset_not_found": 404,
        "not_a_pipeline": 403,
        "refresh_not_allowed": 403,
        "no_requests": 401,
        "no_records": 400,
        "no_metrics": 400,
        "budget_exceeded": 400,
    }

    def error_body(self, status_code, message, *, field=None, code=""):
        return {"success": False, "message": message}

    def report(self, report_id) -> Report | None:
        return (
            Report.objects.visible_to(self.request.user, organization=self.acting_organization)
            .filter(pk=report_id)
            .first()
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_body(data: dict) -> dict:
    name = data.get("name")
    if name is None:
        raise InvalidInput("name is required.", field="name")
    if not isinstance(name, str):
        raise InvalidInput("name must be a string.", field="name")
    if not 1 <= len(name) <= 255:
        raise InvalidInput("name must be between 1 and 255 characters in length.", field="name")
    dataset_id = data.get("dataset_id")
    if dataset_id is not None and not _is_int(dataset_id):
        raise InvalidInput("dataset_id must be an integer or null.", field="dataset_id")
    refresh = data.get("refresh_dataset")
    if refresh is not None and not isinstance(refresh, bool):
        raise InvalidInput("refresh_dataset must be a boolean or null.", field="refresh_dataset")
    return {"name": name, "dataset_id": dataset_id, "refresh_dataset": bool(refresh)}


class RunReport(PromptLayerView):
    def post(self, request, report_id: int):
        args = parse_body(self.body())
        report = self.report(report_id)
        if report is None:
            return self.error(404, "Report not found.")
        dataset = None
        if args["dataset_id"] is not None:
            dataset = (
                Dataset.objects.visible_to(request.user, organization=self.acting_organization)
                .filter(pk=args["dataset_id"])
                .first()
            )
            if dataset is None:
                return self.error(404, "Dataset not found.")
        final = report_run(
            actor=request.user,
            report=report,
            name=args["name"],
            dataset=dataset,
            refresh_dataset=args["refresh_dataset"],
            source=Run.Source.PROMPTLAYER,
            acting_organization=self.acting_organization,
        )
        return Response({"success": True, "report_id": final.pk}, status=201)

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated):
            return self.error(401, "Missing X-API-KEY header.")
        return super().handle_exception(exc)


class ReportDetail(PromptLayerView):
    def get(self, request, report_id: int):
        report = self.report(report_id)
        if report is None:
            return self.error(404, "Report not found.")
        run = Run.objects.filter(pk=report.run_id).first() if report.run_id else None
        return Response(
            {
                "success": True,
                "report": {
                    "id": report.pk,
                    "name": report.name,
                    "is_pipeline": report.is_pipeline,
                    "pipeline_id": report.pipeline_id,
                    "dataset_id": report.dataset_id,
                    "status": _status(report, run),
                    "score": run.result if run else None,
                    "pass_rate": run.pass_rate if run else None,
                    "item_count": run.item_count if run else None,
                    "completed_count": run.completed_count if run else None,
                    "aggregate_results": run.aggregate_results if run else None,
                    "error_message": (run.error_message or None) if run else None,
                    "created_at": report.created_at.isoformat().replace("+00:00", "Z"),
                },
            }
        )

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated):
            return self.error(401, "Missing X-API-KEY header.")
        return super().handle_exception(exc)


def _status(report: Report, run: Run | None) -> str:
    if report.is_pipeline:
        return "PIPELINE"
    if run is None:
        return "QUEUED"
    return {
        "pending": "QUEUED",
        "running": "RUNNING",
        "completed": "COMPLETED",
        "failed": "FAILED",
        "cancelled": "CANCELLED",
    }[run.status]

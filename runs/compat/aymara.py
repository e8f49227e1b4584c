"""Seed 003, Aymara: ``POST /v2/eval-runs/-/score-responses`` and ``GET /v2/eval-runs/{uuid}``.

``eval_uuid`` is an eval config whose dataset's records are the eval's
prompts; ``responses`` are ``{prompt_uuid, content}`` answers scored with the
config's metrics; ``ai_description`` and ``eval_run_examples`` go into the
judge's prompt; ``eval_run_uuid`` adds responses to a run of the same eval
(another eval's run → 409); ``is_sandbox=true`` answers in the same shape
without calling any provider. Errors are ``{"error": {...}, "request_id"}``.
"""

from __future__ import annotations

import uuid

from rest_framework.response import Response

from datasets.models import Record
from evalhub.errors import InvalidInput
from evalhub.models import Workspace
from runs.compat.base import CompatView
from runs.models import EvalConfig, Run, RunItem, RunStatus
from runs.services import GivenResponse, run_score_responses

STATUS = {
    RunStatus.PENDING: "created",
    RunStatus.RUNNING: "processing",
    RunStatus.COMPLETED: "finished",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "failed",
}
MAX_RESPONSES = 10_000


class Unprocessable(InvalidInput):
    status = 422


def _uuid(value, field):
    if not isinstance(value, str):
        raise Unprocessable(f"{field} must be a UUID string.", field=field, code="invalid_uuid")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Unprocessable(
            f"{field} is not a valid UUID: {value!r}.", field=field, code="invalid_uuid"
        ) from None


def _time(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def eval_run_result(run: Run) -> dict:
    config = run.config_version.config if run.config_version else None
    items = (
        RunItem.objects.filter(run=run)
        .select_related("record")
        .prefetch_related("scores")
        .order_by("index")
    )
    responses = []
    for item in items:
        scores = list(item.scores.all())
        explanation = " ".join(s.reason or s.error for s in scores if (s.reason or s.error)) or None
        values = [s.value for s in scores if s.value is not None]
        responses.append(
            {
                "response_uuid": str(item.uuid),
                "prompt_uuid": str(item.record.uuid),
                "content": item.output,
                "content_type": "text",
                "ai_refused": False,
                "exclude_from_scoring": False,
                "is_passed": item.passed,
                "confidence": (sum(values) / len(values)) if values else None,
                "explanation": item.error or explanation,
            }
        )
    scored = sum(1 for r in responses if r["is_passed"] is not None)
    return {
        "eval_run_uuid": str(run.uuid),
        "eval_uuid": str(config.uuid) if config else None,
        "name": run.name or None,
        "status": STATUS[run.status],
        "created_at": _time(run.created_at),
        "updated_at": _time(run.updated_at),
        "evaluation": {
            "eval_uuid": str(config.uuid),
            "name": config.name,
            "description": config.description or None,
            "num_prompts": run.dataset_version.record_count if run.dataset_version else None,
        }
        if config
        else None,
        "ai_description": run.ai_description or None,
        "workspace_uuid": str(run.workspace.uuid) if run.workspace else None,
        "pass_rate": (run.pass_rate / 100) if run.pass_rate is not None else None,
        "num_prompts": run.dataset_version.record_count if run.dataset_version else None,
        "num_responses_scored": scored,
        "responses": responses,
        "is_sandbox": run.is_sandbox,
    }


class AymaraView(CompatView):
    product = "aymara"
    status_for_code = {
        "eval_not_found": 404,
        "run_not_found": 404,
        "no_records": 404,
        "eval_mismatch": 409,
        "duplicate_response": 409,
        "budget_exceeded": 403,
        "forbidden": 403,
    }
    parse_error_status = 400

    def error_body(self, status_code, message, *, field=None, code=""):
        error = {"code": code or _default_code(status_code), "message": message}
        if field:
            error["field"] = field
        return {"error": error, "request_id": self.request_id}

    @property
    def request_id(self) -> str:
        if not hasattr(self, "_request_id"):
            self._request_id = self.request.headers.get("X-Request-Id") or str(uuid.uuid4())
        return self._request_id

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Request-Id"] = self.request_id
        return response


def _default_code(status_code: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        422: "validation_error",
        429: "rate_limited",
    }.get(status_code, "error")


def _bool_param(value, field):
    if value is None:
        return False
    if value.lower() in {"true", "1"}:
        return True
    if value.lower() in {"false", "0"}:
        return False
    raise Unprocessable(f"{field} must be true or false.", field=field, code="invalid_boolean")


def _optional_str(data, field):
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise Unprocessable(f"{field} must be a string or null.", field=field, code="invalid_type")
    return value


class ScoreResponses(AymaraView):
    def post(self, request):
        data = self.body()
        is_sandbox = _bool_param(request.query_params.get("is_sandbox"), "is_sandbox")
        workspace = None
        if request.query_params.get("workspace_uuid"):
            ws_uuid = _uuid(request.query_params["workspace_uuid"], "workspace_uuid")
            workspace = Workspace.objects.visible_to(request.user).filter(uuid=ws_uuid).first()
            if workspace is None:
                return self.error(
                    404, "Workspace not found.", field="workspace_uuid", code="not_found"
                )
        if "eval_uuid" not in data:
            raise Unprocessable("eval_uuid is required.", field="eval_uuid", code="missing")
        eval_uuid = _uuid(data["eval_uuid"], "eval_uuid")
        configs = EvalConfig.objects.visible_to(request.user, organization=self.acting_organization)
        if workspace is not None:
            configs = configs.filter(workspace=workspace)
        config = configs.filter(uuid=eval_uuid).select_related("dataset").first()
        if config is None:
            return self.error(404, "Eval not found.", field="eval_uuid", code="not_found")
        version = config.latest_version()
        if version is None or config.dataset is None:
            return self.error(404, "The eval has no prompts.", field="eval_uuid", code="not_found")
        responses = self._responses(data.get("responses"), config)
        examples = data.get("eval_run_examples")
        if examples is not None and (
            not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples)
        ):
            raise Unprocessable(
                "eval_run_examples must be an array of objects.",
                field="eval_run_examples",
                code="invalid_type",
            )
        existing = None
        if data.get("eval_run_uuid") is not None:
            run_uuid = _uuid(data["eval_run_uuid"], "eval_run_uuid")
            existing = (
                Run.objects.visible_to(request.user, organization=self.acting_organization)
                .filter(uuid=run_uuid)
                .select_related("config_version")
                .first()
            )
            if existing is None:
                return self.error(
                    404, "Eval run not found.", field="eval_run_uuid", code="not_found"
                )
        run = run_score_responses(
            actor=request.user,
            config_version=version,
            responses=responses,
            name=_optional_str(data, "name") or "",
            ai_description=_optional_str(data, "ai_description") or "",
            examples=examples,
            workspace=workspace,
            existing_run=existing,
            is_sandbox=is_sandbox,
            source=Run.Source.AYMARA,
            acting_organization=self.acting_organization,
            block=True,
        )
        return Response(eval_run_result(_fresh(run.pk)), status=200)

    def _responses(self, value, config) -> list[GivenResponse]:
        if not isinstance(value, list) or not value:
            raise Unprocessable(
                "responses must be a non-empty array.", field="responses", code="invalid_type"
            )
        if len(value) > MAX_RESPONSES:
            raise Unprocessable(
                f"At most {MAX_RESPONSES} responses per request.",
                field="responses",
                code="too_many",
            )
        version = config.dataset.latest_version()
        wanted, seen = [], set()
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise Unprocessable(
                    "Each response must be an object.", field=f"responses[{i}]", code="invalid_type"
                )
            prompt_uuid = _uuid(item.get("prompt_uuid"), f"responses[{i}].prompt_uuid")
            content = item.get("content")
            if not isinstance(content, str):
                raise Unprocessable(
                    "content must be a string.",
                    field=f"responses[{i}].content",
                    code="invalid_type",
                )
            if prompt_uuid in seen:
                raise Unprocessable(
                    "The same prompt is answered twice.",
                    field=f"responses[{i}].prompt_uuid",
                    code="duplicate",
                )
            seen.add(prompt_uuid)
            wanted.append((i, prompt_uuid, content))
        records = {r.uuid: r for r in Record.objects.filter(version=version, uuid__in=seen)}
        out = []
        for i, prompt_uuid, content in wanted:
            record = records.get(prompt_uuid)
            if record is None:
                raise InvalidInput(
                    f"Prompt {prompt_uuid} is not a prompt of this eval.",
                    field=f"responses[{i}].prompt_uuid",
                    code="unknown_prompt",
                    status=404,
                )
            out.append(GivenResponse(record=record, content=content))
        return out


def _fresh(pk) -> Run:
    return Run.objects.select_related("config_version__config", "workspace", "dataset_version").get(
        pk=pk
    )


class EvalRunDetail(AymaraView):
    def get(self, request, run_uuid):
        parsed = _uuid(run_uuid, "eval_run_uuid")
        run = (
            Run.objects.visible_to(request.user, organization=self.acting_organization)
            .filter(uuid=parsed)
            .first()
        )
        if run is None:
            return self.error(404, "Eval run not found.", code="not_found")
        return Response(eval_run_result(_fresh(run.pk)))

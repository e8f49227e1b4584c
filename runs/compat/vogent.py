"""Seed 002, Vogent: ``POST /eval_configs/{id}/runs`` (200 AIEvalRun) and its poll.

``{id}`` is an eval config, ``versionedPromptId`` a prompt version,
``callAgentId`` an agent, ``evalRecordIds`` a subset of the config's records.
A body that does not parse or has wrong types is 400; missing fields and ids
that name nothing are 422 (validation exception).
"""

from __future__ import annotations

import uuid

from rest_framework.response import Response

from evalhub.errors import InvalidInput
from runs.compat.base import CompatView
from runs.models import Agent, EvalConfig, PromptVersion, Run, RunStatus
from runs.services import run_create

STATUS = {
    RunStatus.PENDING: "PENDING",
    RunStatus.RUNNING: "RUNNING",
    RunStatus.COMPLETED: "SUCCESS",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELLED: "CANCELLED",
}


class Invalid(InvalidInput):
    status = 422


def _time(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def ai_eval_run(run: Run) -> dict:
    return {
        "id": str(run.uuid),
        "status": STATUS[run.status],
        "callAgentId": str(run.agent.uuid) if run.agent else "",
        "versionedPromptId": str(run.prompt_version.uuid) if run.prompt_version else "",
        "createdAt": _time(run.created_at),
        "aggregateResult": {
            "numFailing": run.failed_count + run.error_count,
            "numPassing": run.passed_count,
        },
    }


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


class VogentView(CompatView):
    product = "vogent"
    status_for_code = {
        "no_records": 422,
        "no_metrics": 422,
        "unknown_records": 422,
        "invalid_id": 422,
        "model_required": 422,
        "missing_variable": 422,
        "record_incomplete": 422,
        "budget_exceeded": 402,
    }

    def error_body(self, status_code, message, *, field=None, code=""):
        body = {"error": message}
        if field:
            body["field"] = field
        return body

    def config(self, config_id) -> EvalConfig | None:
        parsed = _uuid(config_id)
        if parsed is None:
            return None
        return (
            EvalConfig.objects.visible_to(self.request.user, organization=self.acting_organization)
            .filter(uuid=parsed)
            .first()
        )


def parse_body(data: dict) -> dict:
    for name in ("versionedPromptId", "callAgentId"):
        if name in data and not isinstance(data[name], str):
            raise InvalidInput(f"{name} must be a string.", field=name, code="invalid_type")
        if data.get(name) in (None, ""):
            raise Invalid(f"{name} is required.", field=name, code="required")
    record_ids = data.get("evalRecordIds")
    if record_ids is not None and (
        not isinstance(record_ids, list) or not all(isinstance(r, str) for r in record_ids)
    ):
        raise InvalidInput(
            "evalRecordIds must be an array of strings.",
            field="evalRecordIds",
            code="invalid_type",
        )
    return {
        "prompt": data["versionedPromptId"],
        "agent": data["callAgentId"],
        "records": record_ids,
    }


class RunEval(VogentView):
    def post(self, request, config_id):
        args = parse_body(self.body())
        config = self.config(config_id)
        if config is None:
            return self.error(404, "Eval config not found.")
        version = config.latest_version()
        if version is None:
            raise Invalid("The eval config has no version yet.", field="id", code="no_version")
        prompt_version = (
            PromptVersion.objects.filter(uuid=_uuid(args["prompt"]) or uuid.UUID(int=0))
            .select_related("prompt")
            .first()
        )
        if prompt_version is None or not _visible(
            request.user, prompt_version.prompt, self.acting_organization
        ):
            raise Invalid(
                "No versioned prompt with this id.", field="versionedPromptId", code="not_found"
            )
        agent = (
            Agent.objects.visible_to(request.user, organization=self.acting_organization)
            .filter(uuid=_uuid(args["agent"]) or uuid.UUID(int=0))
            .first()
        )
        if agent is None:
            raise Invalid("No call agent with this id.", field="callAgentId", code="not_found")
        run = run_create(
            actor=request.user,
            config_version=version,
            prompt_version=prompt_version,
            agent=agent,
            record_uuids=args["records"] if args["records"] else None,
            source=Run.Source.VOGENT,
            acting_organization=self.acting_organization,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(ai_eval_run(_fresh(run.pk)), status=200)


def _visible(user, obj, organization) -> bool:
    return type(obj).objects.visible_to(user, organization=organization).filter(pk=obj.pk).exists()


def _fresh(pk) -> Run:
    return Run.objects.select_related("agent", "prompt_version").get(pk=pk)


class RunDetail(VogentView):
    def get(self, request, config_id, run_id):
        config = self.config(config_id)
        parsed = _uuid(run_id)
        run = None
        if config is not None and parsed is not None:
            run = (
                Run.objects.visible_to(request.user, organization=self.acting_organization)
                .filter(uuid=parsed, config_version__config=config)
                .select_related("agent", "prompt_version")
                .first()
            )
        if run is None:
            return self.error(404, "Eval run not found.")
        return Response(ai_eval_run(run))

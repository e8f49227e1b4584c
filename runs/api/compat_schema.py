"""OpenAPI documentation of the five compatibility endpoints (``/compat/...``).

The adapters in :mod:`runs.compat` parse their products' bodies by hand (each
contract is the seed's, not a serializer's), so drf-spectacular cannot infer
them. These view extensions describe each one as its seed does: request body,
success body and the product's own error envelope. Documentation only: the
schema generator sees an annotated subclass; requests still reach the
adapters untouched. Imported by :mod:`runs.api.urls`, so it is loaded with
the URLconf before any schema is generated.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers as f

# --- error envelopes, one per product ------------------------------------------------------

PROMPTLAYER_ERROR = inline_serializer(
    "PromptLayerError", {"success": f.BooleanField(), "message": f.CharField()}
)
TRULAYER_ERROR = inline_serializer("TruLayerError", {"error": f.CharField()})
VOGENT_ERROR = inline_serializer(
    "VogentError", {"error": f.CharField(), "field": f.CharField(required=False)}
)
AYMARA_ERROR = inline_serializer(
    "AymaraError",
    {
        "error": inline_serializer(
            "AymaraErrorDetail",
            {
                "code": f.CharField(),
                "message": f.CharField(),
                "field": f.CharField(required=False),
            },
        ),
        "request_id": f.CharField(),
    },
)
AEGIS_ERROR = inline_serializer("AegisError", {"detail": f.CharField()})
AEGIS_VALIDATION_ERROR = inline_serializer(
    "AegisValidationError",
    {
        "detail": inline_serializer(
            "AegisValidationErrorItem",
            {
                "loc": f.ListField(child=f.CharField()),
                "msg": f.CharField(),
                "type": f.CharField(),
            },
            many=True,
        )
    },
)


def errors(envelope, descriptions: dict[int, str]) -> dict:
    return {
        code: OpenApiResponse(response=envelope, description=text)
        for code, text in descriptions.items()
    }


COMMON = {401: "Missing or invalid API key.", 429: "Too many requests (see Retry-After)."}


def annotated(view_class, **schema):
    """A subclass of ``view_class`` whose handler carries ``schema``, for the generator only.

    The handler is wrapped, not decorated in place, so the adapter itself is
    left exactly as it is.
    """
    method = "post" if hasattr(view_class, "post") else "get"
    original = getattr(view_class, method)

    def handler(self, request, *args, **kwargs):
        return original(self, request, *args, **kwargs)

    handler.__name__ = method
    return type(view_class.__name__, (view_class,), {method: extend_schema(**schema)(handler)})


# --- 000 PromptLayer ---------------------------------------------------------------------------

PROMPTLAYER_RUN_REQUEST = inline_serializer(
    "PromptLayerRunReportRequest",
    {
        "name": f.CharField(min_length=1, max_length=255),
        "dataset_id": f.IntegerField(required=False, allow_null=True),
        "refresh_dataset": f.BooleanField(required=False, allow_null=True),
    },
)


class PromptLayerRunReport(OpenApiViewExtension):
    target_class = "runs.compat.promptlayer.RunReport"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="promptlayer_run_report",
            tags=["compat: PromptLayer"],
            summary="Run Full Evaluation (PromptLayer, seed 000)",
            request=PROMPTLAYER_RUN_REQUEST,
            responses={
                201: inline_serializer(
                    "PromptLayerRunCreated",
                    {"success": f.BooleanField(), "report_id": f.IntegerField()},
                ),
                **errors(
                    PROMPTLAYER_ERROR,
                    {
                        400: "Invalid data or report generation error.",
                        401: "Bad X-API-KEY, or no requests found for the given criteria.",
                        403: "Not a pipeline, or refresh of a static dataset.",
                        404: "Report or dataset not found.",
                        429: COMMON[429],
                    },
                ),
            },
            examples=[
                OpenApiExample(
                    "Run a pipeline", value={"name": "Nightly", "dataset_id": 1}, request_only=True
                )
            ],
        )


class PromptLayerReportDetail(OpenApiViewExtension):
    target_class = "runs.compat.promptlayer.ReportDetail"

    def view_replacement(self):
        report = inline_serializer(
            "PromptLayerReport",
            {
                "id": f.IntegerField(),
                "name": f.CharField(),
                "is_pipeline": f.BooleanField(),
                "pipeline_id": f.IntegerField(allow_null=True),
                "dataset_id": f.IntegerField(allow_null=True),
                "status": f.ChoiceField(
                    choices=["PIPELINE", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
                ),
                "score": f.FloatField(allow_null=True),
                "pass_rate": f.FloatField(allow_null=True),
                "item_count": f.IntegerField(allow_null=True),
                "completed_count": f.IntegerField(allow_null=True),
                "aggregate_results": f.DictField(child=f.FloatField(), allow_null=True),
                "error_message": f.CharField(allow_null=True),
                "created_at": f.DateTimeField(),
            },
        )
        return annotated(
            self.target,
            operation_id="promptlayer_get_report",
            tags=["compat: PromptLayer"],
            summary="Poll a report (PromptLayer)",
            responses={
                200: inline_serializer(
                    "PromptLayerReportBody", {"success": f.BooleanField(), "report": report}
                ),
                **errors(PROMPTLAYER_ERROR, {**COMMON, 404: "Report not found."}),
            },
        )


# --- 001 TruLayer ------------------------------------------------------------------------------

TRULAYER_EVAL_RUN = inline_serializer(
    "TruLayerEvalRun",
    {
        "id": f.UUIDField(),
        "tenant_id": f.UUIDField(),
        "dataset_id": f.UUIDField(allow_null=True),
        "eval_version_id": f.UUIDField(allow_null=True),
        "status": f.ChoiceField(choices=["pending", "running", "completed", "failed"]),
        "item_count": f.IntegerField(),
        "completed_count": f.IntegerField(),
        "started_at": f.DateTimeField(allow_null=True),
        "completed_at": f.DateTimeField(allow_null=True),
        "error_message": f.CharField(allow_null=True),
        "created_at": f.DateTimeField(),
    },
)
UUID_PATH = {"type": OpenApiTypes.UUID, "location": OpenApiParameter.PATH}


class TruLayerSchedule(OpenApiViewExtension):
    target_class = "runs.compat.trulayer.ScheduleEvalRun"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="trulayer_schedule_eval_run",
            tags=["compat: TruLayer"],
            summary="Schedule an eval run against a dataset version (TruLayer, seed 001)",
            parameters=[
                OpenApiParameter(
                    "dataset_id", description="A dataset or dataset version uuid.", **UUID_PATH
                )
            ],
            request=inline_serializer(
                "TruLayerScheduleEvalRunRequest", {"eval_version_id": f.UUIDField()}
            ),
            responses={
                202: TRULAYER_EVAL_RUN,
                **errors(
                    TRULAYER_ERROR,
                    {
                        **COMMON,
                        400: "Invalid body.",
                        402: "Spending limit reached.",
                        404: "Dataset or eval version not found.",
                    },
                ),
            },
        )


class TruLayerEvalRun(OpenApiViewExtension):
    target_class = "runs.compat.trulayer.EvalRunDetail"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="trulayer_get_eval_run",
            tags=["compat: TruLayer"],
            summary="Poll an eval run (TruLayer)",
            parameters=[OpenApiParameter("run_id", **UUID_PATH)],
            responses={
                200: TRULAYER_EVAL_RUN,
                **errors(TRULAYER_ERROR, {**COMMON, 404: "Eval run not found."}),
            },
        )


# --- 002 Vogent --------------------------------------------------------------------------------

VOGENT_RUN = inline_serializer(
    "VogentAIEvalRun",
    {
        "id": f.CharField(),
        "status": f.ChoiceField(choices=["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]),
        "callAgentId": f.CharField(allow_blank=True),
        "versionedPromptId": f.CharField(allow_blank=True),
        "createdAt": f.DateTimeField(),
        "aggregateResult": inline_serializer(
            "VogentAIEvalAggregateResult",
            {"numFailing": f.IntegerField(), "numPassing": f.IntegerField()},
        ),
    },
)


class VogentRunEval(OpenApiViewExtension):
    target_class = "runs.compat.vogent.RunEval"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="vogent_run_eval",
            tags=["compat: Vogent"],
            summary="Run Eval (Vogent, seed 002)",
            parameters=[OpenApiParameter("config_id", str, OpenApiParameter.PATH)],
            request=inline_serializer(
                "VogentRunEvalInput",
                {
                    "versionedPromptId": f.CharField(),
                    "callAgentId": f.CharField(),
                    "evalRecordIds": f.ListField(child=f.CharField(), required=False),
                },
            ),
            responses={
                200: VOGENT_RUN,
                **errors(
                    VOGENT_ERROR,
                    {
                        **COMMON,
                        400: "Invalid input.",
                        402: "Spending limit reached.",
                        404: "Eval config not found.",
                        422: "Validation exception.",
                    },
                ),
            },
        )


class VogentRunDetail(OpenApiViewExtension):
    target_class = "runs.compat.vogent.RunDetail"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="vogent_get_run",
            tags=["compat: Vogent"],
            summary="Poll an eval run (Vogent)",
            parameters=[
                OpenApiParameter("config_id", str, OpenApiParameter.PATH),
                OpenApiParameter("run_id", str, OpenApiParameter.PATH),
            ],
            responses={
                200: VOGENT_RUN,
                **errors(VOGENT_ERROR, {**COMMON, 404: "Eval run not found."}),
            },
        )


# --- 003 Aymara --------------------------------------------------------------------------------

AYMARA_RESULT = inline_serializer(
    "AymaraEvalRunResult",
    {
        "eval_run_uuid": f.CharField(),
        "eval_uuid": f.CharField(allow_null=True),
        "name": f.CharField(allow_null=True),
        "status": f.CharField(),
        "created_at": f.DateTimeField(),
        "updated_at": f.DateTimeField(),
        "evaluation": f.JSONField(allow_null=True),
        "ai_description": f.CharField(allow_null=True),
        "workspace_uuid": f.CharField(allow_null=True),
        "pass_rate": f.FloatField(allow_null=True),
        "num_prompts": f.IntegerField(allow_null=True),
        "num_responses_scored": f.IntegerField(allow_null=True),
        "responses": f.ListField(child=f.JSONField(), allow_null=True),
        "is_sandbox": f.BooleanField(),
    },
)


class AymaraScoreResponses(OpenApiViewExtension):
    target_class = "runs.compat.aymara.ScoreResponses"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="aymara_score_responses",
            tags=["compat: Aymara"],
            summary="Run Eval with the provided responses (Aymara, seed 003)",
            parameters=[
                OpenApiParameter("workspace_uuid", OpenApiTypes.UUID),
                OpenApiParameter("is_sandbox", bool),
            ],
            request=inline_serializer(
                "AymaraEvalRunRequest",
                {
                    "eval_uuid": f.UUIDField(),
                    "eval_run_uuid": f.UUIDField(required=False, allow_null=True),
                    "name": f.CharField(required=False, allow_null=True),
                    "ai_description": f.CharField(required=False, allow_null=True),
                    "continue_thread": f.BooleanField(required=False, allow_null=True),
                    "eval_run_examples": f.ListField(
                        child=f.DictField(), required=False, allow_null=True
                    ),
                    "responses": inline_serializer(
                        "AymaraResponse",
                        {"prompt_uuid": f.UUIDField(), "content": f.CharField()},
                        many=True,
                    ),
                },
            ),
            responses={
                200: AYMARA_RESULT,
                **errors(
                    AYMARA_ERROR,
                    {
                        **COMMON,
                        400: "Malformed request.",
                        403: "Forbidden (or spending limit reached).",
                        404: "Eval, eval run, workspace or prompt not found.",
                        409: "The eval run belongs to another eval, or a prompt is answered twice.",
                        422: "Body validation failed.",
                    },
                ),
            },
        )


class AymaraEvalRun(OpenApiViewExtension):
    target_class = "runs.compat.aymara.EvalRunDetail"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="aymara_get_eval_run",
            tags=["compat: Aymara"],
            summary="Poll an eval run (Aymara)",
            parameters=[OpenApiParameter("run_uuid", **UUID_PATH)],
            responses={
                200: AYMARA_RESULT,
                **errors(
                    AYMARA_ERROR,
                    {**COMMON, 404: "Eval run not found.", 422: "Not a uuid."},
                ),
            },
        )


# --- 004 Aegis ---------------------------------------------------------------------------------

AEGIS_RUN = inline_serializer(
    "AegisRun",
    {
        "id": f.IntegerField(),
        "user": f.CharField(allow_null=True),
        "author_email": f.CharField(allow_null=True),
        "run_type": f.CharField(),
        "run_source": f.CharField(),
        "dataset": f.CharField(allow_null=True),
        "data_collection": f.CharField(allow_null=True),
        "org_id": f.IntegerField(allow_null=True),
        "number_of_metrics": f.IntegerField(),
        "result": f.FloatField(allow_null=True),
        "threshold": f.FloatField(allow_null=True),
        "model_slug": f.CharField(allow_null=True),
        "alias": f.CharField(allow_null=True),
        "aggregate_results": f.DictField(child=f.FloatField()),
        "total_cost": f.FloatField(allow_null=True),
        "started_at": f.DateTimeField(allow_null=True),
        "finished_at": f.DateTimeField(allow_null=True),
        "is_gte_threshold": f.BooleanField(allow_null=True),
        "evaluations": f.ListField(child=f.JSONField()),
    },
)


class AegisRunFromDataset(OpenApiViewExtension):
    target_class = "runs.compat.aegis.RunFromDataset"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="aegis_create_run_from_dataset",
            tags=["compat: Aegis"],
            summary="Create run from a dataset (Aegis, seed 004)",
            request=inline_serializer(
                "AegisRunFromDatasetRequest",
                {
                    "dataset_id": f.IntegerField(),
                    "threshold": f.IntegerField(required=False, allow_null=True),
                    "model_slug": f.CharField(required=False, allow_null=True),
                    "metric_args": f.DictField(
                        child=f.DictField(), required=False, allow_null=True
                    ),
                    "is_blocking": f.BooleanField(required=False, default=False),
                    "alias": f.CharField(required=False, allow_null=True, max_length=255),
                },
            ),
            parameters=[
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    description="Retry-safe create.",
                )
            ],
            responses={
                201: AEGIS_RUN,
                422: OpenApiResponse(AEGIS_VALIDATION_ERROR, description="Body validation failed."),
                **errors(
                    AEGIS_ERROR,
                    {
                        **COMMON,
                        400: "Unknown dataset, bad metric ids or args, inactive metric, "
                        "duplicate alias.",
                        402: "Insufficient balance.",
                        404: "Unknown model_slug; dataset without records or metrics.",
                    },
                ),
            },
            examples=[
                OpenApiExample(
                    "The seed's curl call",
                    value={
                        "dataset_id": 1,
                        "threshold": 70,
                        "model_slug": "gpt-4o",
                        "is_blocking": False,
                    },
                    request_only=True,
                )
            ],
        )


class AegisRunDetail(OpenApiViewExtension):
    target_class = "runs.compat.aegis.RunDetail"

    def view_replacement(self):
        return annotated(
            self.target,
            operation_id="aegis_get_run",
            tags=["compat: Aegis"],
            summary="Poll a run (Aegis)",
            responses={
                200: AEGIS_RUN,
                **errors(AEGIS_ERROR, {**COMMON, 404: "Run not found."}),
            },
        )

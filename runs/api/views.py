"""Catalogues, definitions (prompts, agents, eval configs, reports) and runs over REST.

Views parse with a serializer, call one service (:mod:`runs.services`,
:mod:`runs.definitions`) or :mod:`runs.compare`, and render. Visibility is the
org-scoped base's (404); permissions are ``can``'s (403).
"""

from __future__ import annotations

import hashlib

from django.core.cache import caches
from django.db.models import Count, Prefetch, prefetch_related_objects
from django.utils.cache import get_conditional_response, patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from datasets.api.views import streamed
from datasets.models import Dataset, DatasetVersion
from evalhub.api.mixins import OrgScopedViewSet
from evalhub.api.pagination import IndexCursorPagination
from evalhub.errors import Conflict, InvalidInput
from runs import compare, definitions, services
from runs.api import serializers as s
from runs.api.filters import RunFilter, RunItemFilter
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigMetric,
    EvalConfigVersion,
    LanguageModel,
    Metric,
    Prompt,
    PromptVersion,
    Report,
    Run,
    RunMetric,
    Score,
)

WRITE_ONLY_DEFINITION = ["get", "post", "delete", "head", "options"]


# --- catalogues ---------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="The metric catalogue, with argument schemas"),
    retrieve=extend_schema(
        summary="One metric, by id or slug",
        parameters=[OpenApiParameter("id_or_slug", str, OpenApiParameter.PATH)],
    ),
)
class MetricViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Read-only. The catalogue belongs to the installation, not to a tenant, so it is not
    scoped; it mirrors the code registry after every migrate."""

    queryset = Metric.objects.all()
    serializer_class = s.MetricSerializer
    permission_classes = [IsAuthenticated]
    lookup_url_kwarg = "id_or_slug"
    lookup_value_regex = "[^/]+"

    def scope_queryset(self, queryset):
        return queryset

    def get_object(self):
        value = self.kwargs["id_or_slug"]
        field = "pk" if value.isdigit() else "slug"
        return get_object_or_404(self.get_queryset(), **{field: value})


@extend_schema_view(
    list=extend_schema(summary="The model catalogue (admins edit it in the admin)"),
    retrieve=extend_schema(summary="One model, by slug"),
)
class LanguageModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Read-only and installation-wide, like the metric catalogue."""

    queryset = LanguageModel.objects.all()
    serializer_class = s.LanguageModelSerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_.]+"

    def scope_queryset(self, queryset):
        return queryset


# --- prompts ---------------------------------------------------------------------------------


def _newest(version_model, *related):
    return Prefetch(
        "versions",
        queryset=version_model.objects.select_related(*related).order_by("-number"),
        to_attr="newest_versions",
    )


@extend_schema_view(
    list=extend_schema(summary="Prompts you can see"),
    retrieve=extend_schema(summary="One prompt with its latest version"),
    destroy=extend_schema(summary="Delete a prompt no run used"),
)
class PromptViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Prompts and their immutable versions (Vogent's ``versionedPromptId`` is a version)."""

    queryset = (
        Prompt.objects.select_related("owner")
        .annotate(version_count=Count("versions"))
        .prefetch_related(_newest(PromptVersion, "model", "created_by"))
        .order_by("name", "pk")  # an aggregate drops Meta.ordering
    )
    serializer_class = s.PromptSerializer
    http_method_names = WRITE_ONLY_DEFINITION

    def perform_destroy(self, prompt):
        definitions.shareable_delete(actor=self.request.user, obj=prompt, source="api")

    @extend_schema(
        summary="Create a prompt with its first version",
        request=s.PromptCreateSerializer,
        responses={201: s.PromptSerializer},
        examples=[
            OpenApiExample(
                "A templated prompt",
                value={
                    "name": "Support answer",
                    "template": "Answer the customer briefly: {{ question }}",
                    "model": "gpt-4o-mini",
                    "params": {"temperature": 0},
                },
                request_only=True,
            )
        ],
    )
    def create(self, request):
        data = self.parse(s.PromptCreateSerializer)
        version = definitions.prompt_create(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            template=data["template"],
            system_prompt=data["system_prompt"],
            model=data.get("model"),
            params=data.get("params"),
            source="api",
            **self.sharing_from(data),
        )
        prompt = self.get_queryset().get(pk=version.prompt_id)
        return Response(s.PromptSerializer(prompt).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Versions, newest first", responses=s.PromptVersionSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=s.PromptVersionSerializer)
    def versions(self, request, pk=None):
        versions = self.get_object().versions.select_related("model", "created_by")
        page = self.paginate_queryset(versions.order_by("-number"))
        return self.get_paginated_response(s.PromptVersionSerializer(page, many=True).data)

    @extend_schema(
        summary="Make the next (immutable) version",
        request=s.PromptVersionCreateSerializer,
        responses={201: s.PromptVersionSerializer},
        examples=[
            OpenApiExample(
                "A stricter template",
                value={"template": "Answer in one sentence: {{ question }}", "note": "shorter"},
                request_only=True,
            )
        ],
    )
    @versions.mapping.post
    def create_version(self, request, pk=None):
        prompt = self.get_object()
        data = self.parse(s.PromptVersionCreateSerializer)
        version = definitions.prompt_version_create(
            actor=request.user, prompt=prompt, source="api", **data
        )
        return Response(s.PromptVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="One version", responses=s.PromptVersionSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>\d+)",
        serializer_class=s.PromptVersionSerializer,
    )
    def version(self, request, pk=None, number=None):
        version = get_object_or_404(self.get_object().versions, number=number)
        return Response(s.PromptVersionSerializer(version).data)


# --- agents ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Agents you can see"),
    retrieve=extend_schema(summary="One agent"),
    destroy=extend_schema(summary="Delete an agent no run used"),
)
class AgentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Systems under test: a model with a system prompt, or an HTTP endpoint."""

    queryset = Agent.objects.select_related("owner", "model")
    serializer_class = s.AgentSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_destroy(self, agent):
        definitions.shareable_delete(actor=self.request.user, obj=agent, source="api")

    @extend_schema(
        summary="Create an agent",
        request=s.AgentCreateSerializer,
        responses={201: s.AgentSerializer},
        examples=[
            OpenApiExample(
                "An HTTP agent",
                value={
                    "name": "Support bot (staging)",
                    "kind": "http",
                    "endpoint_url": "https://bot.staging.example.com/answer",
                    "headers": {"Authorization": "Bearer …"},
                    "output_field": "answer",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request):
        data = dict(self.parse(s.AgentCreateSerializer))
        sharing = self.sharing_from(data)
        data.pop("organization", None)
        data.pop("workspace", None)
        agent = definitions.agent_create(actor=request.user, source="api", **sharing, **data)
        return Response(s.AgentSerializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an agent", request=s.AgentUpdateSerializer, responses=s.AgentSerializer
    )
    def partial_update(self, request, pk=None):
        agent = self.get_object()
        data = self.parse(s.AgentUpdateSerializer)
        agent = definitions.agent_update(actor=request.user, agent=agent, source="api", **data)
        return Response(s.AgentSerializer(agent).data)


# --- eval configs ----------------------------------------------------------------------------------


def _config_version_fields(view, data) -> dict:
    """Service keyword arguments of a config version, with referenced ids resolved."""
    return {
        "metrics": [dict(m) for m in data["metrics"]],
        "threshold": data.get("threshold"),
        "judge_model": data.get("judge_model"),
        "prompt_version": view.visible_object(
            PromptVersion,
            data.get("prompt_version_id"),
            field="prompt_version_id",
            through="prompt",
        ),
        "agent": view.visible_object(Agent, data.get("agent_id"), field="agent_id"),
        "repetitions": data["repetitions"],
        "note": data["note"],
    }


CONFIG_EXAMPLE = {
    "name": "Support QA — strict",
    "dataset_id": 1,
    "metrics": [
        {"metric": "exact_match", "args": {"case_sensitive": False}},
        {"metric": "answer_correctness", "informational": True},
    ],
    "threshold": 80,
    "judge_model": "gpt-4o-mini",
}


@extend_schema_view(
    list=extend_schema(summary="Eval configs you can see"),
    retrieve=extend_schema(summary="One eval config with its latest version"),
    destroy=extend_schema(summary="Delete an eval config no run used"),
)
class EvalConfigViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """How answers are judged: metrics with arguments, threshold, judge model; versioned."""

    queryset = (
        EvalConfig.objects.select_related("owner")
        .annotate(version_count=Count("versions"))
        .prefetch_related(
            _newest(EvalConfigVersion, "judge_model", "created_by"),
            Prefetch(
                "newest_versions__metrics",
                queryset=EvalConfigMetric.objects.select_related("metric"),
            ),
        )
        .order_by("name", "pk")  # an aggregate drops Meta.ordering
    )
    serializer_class = s.EvalConfigSerializer
    http_method_names = WRITE_ONLY_DEFINITION

    def perform_destroy(self, config):
        definitions.shareable_delete(actor=self.request.user, obj=config, source="api")

    @extend_schema(
        summary="Create an eval config with its first version",
        request=s.EvalConfigCreateSerializer,
        responses={201: s.EvalConfigSerializer},
        examples=[
            OpenApiExample("Exact match plus a judge", value=CONFIG_EXAMPLE, request_only=True)
        ],
    )
    def create(self, request):
        data = self.parse(s.EvalConfigCreateSerializer)
        version = definitions.config_create(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            dataset=self.visible_object(Dataset, data.get("dataset_id"), field="dataset_id"),
            source="api",
            **self.sharing_from(data),
            **_config_version_fields(self, data),
        )
        config = self.get_queryset().get(pk=version.config_id)
        return Response(s.EvalConfigSerializer(config).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Versions, newest first", responses=s.EvalConfigVersionSerializer(many=True)
    )
    @action(detail=True, methods=["get"], serializer_class=s.EvalConfigVersionSerializer)
    def versions(self, request, pk=None):
        versions = (
            self.get_object()
            .versions.select_related("judge_model", "created_by")
            .prefetch_related(
                Prefetch("metrics", queryset=EvalConfigMetric.objects.select_related("metric"))
            )
            .order_by("-number")
        )
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(s.EvalConfigVersionSerializer(page, many=True).data)

    @extend_schema(
        summary="Make the next (immutable) version; metrics and args are checked by the registry",
        request=s.EvalConfigVersionCreateSerializer,
        responses={201: s.EvalConfigVersionSerializer},
        examples=[
            OpenApiExample(
                "Raise the threshold",
                value={"metrics": [{"metric": 2}], "threshold": 90, "note": "stricter"},
                request_only=True,
            )
        ],
    )
    @versions.mapping.post
    def create_version(self, request, pk=None):
        config = self.get_object()
        data = self.parse(s.EvalConfigVersionCreateSerializer)
        version = definitions.config_version_create(
            actor=request.user, config=config, source="api", **_config_version_fields(self, data)
        )
        return Response(s.EvalConfigVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="One version", responses=s.EvalConfigVersionSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>\d+)",
        serializer_class=s.EvalConfigVersionSerializer,
    )
    def version(self, request, pk=None, number=None):
        version = get_object_or_404(self.get_object().versions, number=number)
        return Response(s.EvalConfigVersionSerializer(version).data)


# --- reports ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Reports (pipelines and final reports) you can see"),
    retrieve=extend_schema(summary="One report"),
    destroy=extend_schema(summary="Delete a report"),
)
class ReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """PromptLayer-style evaluation pipelines; running one produces a final report."""

    queryset = Report.objects.select_related("owner", "run")
    serializer_class = s.ReportSerializer
    http_method_names = WRITE_ONLY_DEFINITION
    write_actions = {"run": "run"}

    def perform_destroy(self, report):
        definitions.shareable_delete(actor=self.request.user, obj=report, source="api")

    @extend_schema(
        summary="Create an evaluation pipeline",
        request=s.ReportCreateSerializer,
        responses={201: s.ReportSerializer},
        examples=[
            OpenApiExample(
                "A nightly pipeline",
                value={"name": "Nightly support eval", "dataset_id": 1, "eval_config_id": 1},
                request_only=True,
            )
        ],
    )
    def create(self, request):
        data = self.parse(s.ReportCreateSerializer)
        report = definitions.report_create(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            dataset=self.visible_object(Dataset, data["dataset_id"], field="dataset_id"),
            eval_config=self.visible_object(
                EvalConfig, data["eval_config_id"], field="eval_config_id"
            ),
            source="api",
            **self.sharing_from(data),
        )
        return Response(s.ReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Run a pipeline: returns the new final report",
        request=s.ReportRunSerializer,
        responses={201: s.ReportSerializer},
        examples=[
            OpenApiExample("Tonight's run", value={"name": "2025-06-01 nightly"}, request_only=True)
        ],
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        report = self.get_object()
        data = self.parse(s.ReportRunSerializer)
        final = services.report_run(
            actor=request.user,
            report=report,
            name=data["name"],
            dataset=self.visible_object(Dataset, data.get("dataset_id"), field="dataset_id"),
            refresh_dataset=data["refresh_dataset"],
            source=Run.Source.API,
            acting_organization=self.acting_organization,
        )
        return Response(s.ReportSerializer(final).data, status=status.HTTP_201_CREATED)


# --- runs ----------------------------------------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Retry-safe creation: the same key again returns the same run (201) "
    "instead of starting another.",
)
RUN_EXAMPLES = [
    OpenApiExample(
        "From a dataset (its selected metrics)",
        value={
            "dataset_id": 1,
            "threshold": 70,
            "model_slug": "gpt-4o-mini",
            "metric_args": {"1": {"ignore_order": True}},
            "alias": "nightly-2025-06-01",
        },
        request_only=True,
    ),
    OpenApiExample(
        "An eval config version over a dataset version",
        value={"config_version_id": 3, "dataset_version_id": 7, "name": "candidate prompt"},
        request_only=True,
    ),
]


# The run detail is what scripts poll every second or two while a run is active. A
# poll reads the run's row, through the visibility and permission checks of any
# request, and reuses the representation made from that same row state: no metrics
# query and no serializer. The key is a digest of the row's visible state rather than
# its updated_at, so a writer that forgets updated_at cannot make a poll stale, and an
# entry never goes stale (the expiry only bounds what the cache holds). The metrics
# are not in the row, but they are written only when a run finishes
# (runs.engine.finalize), in the transaction that changes its status.
# duration_seconds of a running run follows the clock: it is set on every response.
DETAIL_COLUMNS = [
    f.attname for f in Run._meta.concrete_fields if f.name in s.RunDetailSerializer.Meta.fields
]
# Every field with its type and options, nested metrics included: a release that
# adds, drops or retypes a field does not reuse what the previous one cached (other
# changes to how a field renders show within DETAIL_CACHE_SECONDS).
DETAIL_FORMAT = hashlib.sha256(repr(s.RunDetailSerializer()).encode()).hexdigest()[:12]
DETAIL_CACHE_SECONDS = 300
RUN_METRICS = Prefetch("run_metrics", queryset=RunMetric.objects.select_related("metric"))


def run_detail_digest(run: Run) -> str:
    """A digest of everything a run's detail representation is made of, except the clock.

    ``run`` comes with ``owner`` and ``judge_model`` (shown as username and slug).
    """
    state = (
        DETAIL_FORMAT,
        tuple(getattr(run, column) for column in DETAIL_COLUMNS),
        run.owner.username if run.owner else None,
        run.judge_model.slug if run.judge_model else None,
    )
    return hashlib.sha256(repr(state).encode()).hexdigest()


@extend_schema_view(
    list=extend_schema(summary="Runs you can see, newest first, filtered"),
    retrieve=extend_schema(
        summary="One run: counters, aggregates and per-metric statistics",
        description="Carries an ETag: send it back in `If-None-Match` and an unchanged run "
        "answers 304 with no body.",
    ),
)
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    queryset = Run.objects.select_related("owner", "judge_model").prefetch_related(RUN_METRICS)
    filterset_class = RunFilter
    write_actions = {"cancel": "cancel", "rerun_failed": "run"}

    def get_serializer_class(self):
        return s.RunSerializer if self.action == "list" else s.RunDetailSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            # retrieve reads the metrics only when the run's representation is not cached.
            return queryset.prefetch_related(None)
        return queryset

    def _detail(self, run) -> dict:
        return s.RunDetailSerializer(self.get_queryset().get(pk=run.pk)).data

    def retrieve(self, request, pk=None):
        run = self.get_object()
        digest = run_detail_digest(run)
        duration = run.duration_seconds
        # Weak: it names the content, whatever indentation the client asked for.
        etag = f'W/"{hashlib.sha256(f"{digest}:{duration!r}".encode()).hexdigest()[:32]}"'
        response = get_conditional_response(request, etag=etag)  # 304 when unchanged
        if response is None:
            key = f"runs:detail:{run.pk}:{digest}"
            data = caches["polls"].get(key)
            if data is None:
                prefetch_related_objects([run], RUN_METRICS)
                data = dict(s.RunDetailSerializer(run).data)
                caches["polls"].set(key, data, DETAIL_CACHE_SECONDS)
            data["duration_seconds"] = duration
            response = Response(data)
        response["ETag"] = etag
        # Any client may keep it, but must ask again before using it (a 304 is cheap).
        patch_cache_control(response, private=True, no_cache=True)
        return response

    @extend_schema(
        summary="Start a run",
        description="Either `dataset_id` (the dataset's selected metrics) or `config_version_id`. "
        "Answers at once unless `block` is true.",
        request=s.RunCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.RunDetailSerializer},
        examples=RUN_EXAMPLES,
    )
    def create(self, request):
        data = self.parse(s.RunCreateSerializer)
        key = request.headers.get("Idempotency-Key") or None
        if key:
            self._check_replay(key, data)
        try:
            run = self._start(data, key)
        except InvalidInput as err:
            # Two requests racing with one key: the loser hits the unique constraint.
            replayed = self._replayed(key) if key and err.code == "duplicate_alias" else None
            if replayed is None:
                raise
            run = replayed
        return Response(self._detail(run), status=status.HTTP_201_CREATED)

    def _replayed(self, key) -> Run | None:
        return Run.objects.filter(owner=self.request.user, idempotency_key=key).first()

    def _check_replay(self, key: str, data: dict) -> None:
        """The same Idempotency-Key with a different request is a client bug, not a retry."""
        run = self._replayed(key)
        if run is None:
            return
        same = (
            run.dataset_id == data["dataset_id"] and run.run_type == Run.RunType.DATASET
            if "dataset_id" in data
            else run.config_version_id == data["config_version_id"]
        )
        if not same:
            raise Conflict(
                "This Idempotency-Key was used for a different run request.",
                field="Idempotency-Key",
                code="idempotency_key_reused",
            )

    def _start(self, data: dict, idempotency_key: str | None) -> Run:
        common = {
            "actor": self.request.user,
            "threshold": data.get("threshold"),
            "model_slug": data.get("model_slug") or None,
            "metric_args": data.get("metric_args"),
            "alias": data.get("alias"),
            "block": data["block"],
            "source": Run.Source.API,
            "acting_organization": self.acting_organization,
            "idempotency_key": idempotency_key,
        }
        if "dataset_id" in data:
            dataset = self.visible_object(Dataset, data["dataset_id"], field="dataset_id")
            return services.run_create_from_dataset(dataset=dataset, **common)
        record_ids = data.get("record_ids")
        return services.run_create(
            config_version=self.visible_object(
                EvalConfigVersion,
                data["config_version_id"],
                field="config_version_id",
                through="config",
            ),
            dataset_version=self.visible_object(
                DatasetVersion,
                data.get("dataset_version_id"),
                field="dataset_version_id",
                through="dataset",
            ),
            prompt_version=self.visible_object(
                PromptVersion,
                data.get("prompt_version_id"),
                field="prompt_version_id",
                through="prompt",
            ),
            agent=self.visible_object(Agent, data.get("agent_id"), field="agent_id"),
            record_uuids=[str(u) for u in record_ids] if record_ids is not None else None,
            name=data["name"],
            **common,
        )

    @extend_schema(
        summary="Items with their scores, in order (cursor-paginated)",
        responses=s.RunItemSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=s.RunItemSerializer,
        filterset_class=RunItemFilter,
        pagination_class=IndexCursorPagination,
    )
    def items(self, request, pk=None):
        items = (
            self.get_object()
            .items.select_related("record")
            .prefetch_related(
                Prefetch("scores", queryset=Score.objects.select_related("run_metric"))
            )
        )
        page = self.paginate_queryset(self.filter_queryset(items))
        return self.get_paginated_response(s.RunItemSerializer(page, many=True).data)

    @extend_schema(summary="Cancel an active run", request=None, responses=s.RunDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        services.run_cancel(actor=request.user, run=run, source="api")
        return Response(self._detail(run))

    @extend_schema(
        summary="Re-score only the errored items of a finished run",
        request=None,
        responses=s.RerunSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rerun-failed")
    def rerun_failed(self, request, pk=None):
        run = self.get_object()
        queued = services.run_rerun_failed(actor=request.user, run=run, source="api")
        return Response({"queued": queued, "run": self._detail(run)})

    @extend_schema(
        summary="Download items and scores as CSV or JSONL (streamed)",
        parameters=[OpenApiParameter("format", str, enum=["csv", "jsonl"], default="csv")],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        export = definitions.run_export(
            actor=request.user,
            run=self.get_object(),
            format=request.query_params.get("format", "csv"),
            source="api",
        )
        return streamed(export)

    @extend_schema(
        summary="Compare with another run, item by item",
        description="Deltas are this run − `with` on shared records: per-metric mean with a 95 % "
        "bootstrap interval (seeded), pass rate, McNemar's exact test, regressed and "
        "improved items.",
        parameters=[
            OpenApiParameter("with", int, required=True, description="The run to compare with."),
            OpenApiParameter(
                "limit", int, description="Most regressed/improved items listed (default 100)."
            ),
        ],
        responses=s.ComparisonSerializer,
    )
    @action(detail=True, methods=["get"])
    def compare(self, request, pk=None):
        run = self.get_object()
        base = self._other_run("with", required=True)
        limit = _int_param(request, "limit", default=compare.LIST_LIMIT, maximum=1000)
        return Response(compare.compare_runs(base, run, list_limit=limit))

    @extend_schema(
        summary="CI gate: pass / fail / pending against the threshold and the baseline",
        parameters=[
            OpenApiParameter(
                "baseline", int, description="Compare with this run (default: dataset's baseline)."
            )
        ],
        responses=s.GateSerializer,
    )
    @action(detail=True, methods=["get"])
    def gate(self, request, pk=None):
        run = self.get_object()
        return Response(compare.gate_verdict(run, self._other_run("baseline")))

    def _other_run(self, param: str, *, required: bool = False) -> Run | None:
        if self.request.query_params.get(param) is None and not required:
            return None
        pk = _int_param(self.request, param, default=None, maximum=2**63 - 1)
        if pk is None:
            raise InvalidInput(f"{param} is required: a run id.", field=param, code="required")
        return self.visible_object(Run, pk, field=param)


def _int_param(request, name: str, *, default, maximum: int):
    value = request.query_params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise InvalidInput(f"{name} must be a whole number from 1 to {maximum}.", field=name)
    return int(value)

"""Datasets, their versions and records, uploads, exports, and logged requests over REST.

Each action parses its input, calls one service of :mod:`datasets.services`
(or :mod:`runs.definitions`) and renders the result. Visibility comes from
the org-scoped base (404), permissions from ``can`` (403), input errors from
the services as InvalidInput (400 naming the field or the line).
"""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from datasets import services
from datasets.api.filters import DatasetFilter, LoggedRequestFilter
from datasets.api.serializers import (
    BaselineSerializer,
    DatasetCreateSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    DatasetVersionSerializer,
    LoggedRequestBatchSerializer,
    LoggedRequestInputSerializer,
    LoggedRequestSerializer,
    RecordsCreateSerializer,
    RecordSerializer,
    RecordsUploadSerializer,
)
from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from evalhub.api.mixins import OrgScopedViewSet
from evalhub.api.pagination import IdCursorPagination, IndexCursorPagination
from evalhub.api.serializers import id_field
from evalhub.errors import InvalidInput, NotFound
from runs import definitions
from runs.models import Run

VERSION_PARAM = OpenApiParameter(
    "version", int, description="Version number (default: the latest version)."
)


def _latest(field: str):
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    return Subquery(latest.values(field)[:1])


def streamed(export) -> StreamingHttpResponse:
    """A download streamed chunk by chunk, named for the browser or curl ``-OJ``."""
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


class RecordFilter(filters.FilterSet):
    search = filters.CharFilter(
        method="filter_search",
        max_length=500,
        help_text="Part of the input, expected output or actual output.",
    )

    class Meta:
        model = Record
        fields = ["search"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(input__icontains=value)
            | Q(expected_output__icontains=value)
            | Q(actual_output__icontains=value)
        )


@extend_schema_view(
    list=extend_schema(summary="Datasets you can see"),
    retrieve=extend_schema(summary="One dataset, with its latest version and selected metrics"),
)
class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    queryset = (
        Dataset.objects.select_related("owner")
        .prefetch_related(
            Prefetch("selected_metrics", queryset=DatasetMetric.objects.select_related("metric"))
        )
        .annotate(
            latest_version_id=_latest("pk"),
            latest_version_number=_latest("number"),
            record_count=_latest("record_count"),
        )
    )
    serializer_class = DatasetSerializer
    filterset_class = DatasetFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def _fresh(self, dataset) -> dict:
        return DatasetSerializer(self.get_queryset().get(pk=dataset.pk)).data

    def _version(self, dataset) -> DatasetVersion:
        number = self.request.query_params.get("version")
        versions = dataset.versions.all()
        if number is None:
            version = versions.order_by("-number").first()
        else:
            version = versions.filter(number=number).first() if number.isdigit() else None
        if version is None:
            raise NotFound("The dataset has no such version.", field="version")
        return version

    @extend_schema(
        summary="Create a dataset (records come by upload, JSON body or refresh)",
        request=DatasetCreateSerializer,
        responses={201: DatasetSerializer},
        examples=[
            OpenApiExample(
                "A static dataset scored by exact match",
                value={
                    "name": "Support QA",
                    "organization": 1,
                    "selected_metrics": [{"metric": "exact_match", "args": {}}],
                },
                request_only=True,
            ),
            OpenApiExample(
                "A dynamic dataset over logged requests",
                value={"name": "Prod traffic", "kind": "dynamic", "filter": {"tags": ["prod"]}},
                request_only=True,
            ),
        ],
    )
    def create(self, request):
        data = self.parse(DatasetCreateSerializer)
        dataset = services.dataset_create(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            kind=data["kind"],
            filter=data.get("filter"),
            selected_metrics=data.get("selected_metrics"),
            source="api",
            **self.sharing_from(data),
        )
        return Response(self._fresh(dataset), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rename, describe or replace the selected metrics",
        request=DatasetUpdateSerializer,
        responses=DatasetSerializer,
    )
    def partial_update(self, request, pk=None):
        dataset = self.get_object()
        data = self.parse(DatasetUpdateSerializer)
        definitions.dataset_update(actor=request.user, dataset=dataset, source="api", **data)
        return Response(self._fresh(dataset))

    @extend_schema(summary="Delete a dataset (owners)", responses={204: None})
    def destroy(self, request, pk=None):
        definitions.shareable_delete(actor=request.user, obj=self.get_object(), source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Versions, newest first", responses=DatasetVersionSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=DatasetVersionSerializer)
    def versions(self, request, pk=None):
        versions = self.get_object().versions.select_related("created_by").order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(DatasetVersionSerializer(page, many=True).data)

    @extend_schema(summary="One version", responses=DatasetVersionSerializer)
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>\d+)",
        serializer_class=DatasetVersionSerializer,
    )
    def version(self, request, pk=None, number=None):
        version = self.get_object().versions.filter(number=number).first()
        if version is None:
            raise NotFound(f"The dataset has no version {number}.", field="number")
        return Response(DatasetVersionSerializer(version).data)

    @extend_schema(
        summary="Records of a version, in order (cursor-paginated)",
        parameters=[VERSION_PARAM],
        responses=RecordSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=RecordSerializer,
        filterset_class=RecordFilter,
        pagination_class=IndexCursorPagination,
    )
    def records(self, request, pk=None):
        version = self._version(self.get_object())
        page = self.paginate_queryset(self.filter_queryset(version.records.all()))
        return self.get_paginated_response(RecordSerializer(page, many=True).data)

    @extend_schema(
        summary="Make a new version from records in the body",
        request=RecordsCreateSerializer,
        responses={201: DatasetVersionSerializer},
        examples=[
            OpenApiExample(
                "Two records",
                value={
                    "records": [
                        {"input": {"question": "2 + 2?"}, "expected_output": "4"},
                        {"input": "Capital of France?", "expected_output": "Paris"},
                    ],
                    "note": "from CI",
                },
                request_only=True,
            )
        ],
    )
    @records.mapping.post
    def add_records(self, request, pk=None):
        dataset = self.get_object()
        data = self.parse(RecordsCreateSerializer)
        version = services.dataset_add_records(
            actor=request.user, dataset=dataset, records=data["records"], note=data["note"]
        )
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Upload a CSV / JSON / JSONL file as a new version (streamed)",
        description="A bad line is a 400 whose `error.field` is `line N`; nothing is written.",
        request={"multipart/form-data": RecordsUploadSerializer},
        responses={201: DatasetVersionSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[MultiPartParser],
        serializer_class=RecordsUploadSerializer,
    )
    def upload(self, request, pk=None):
        dataset = self.get_object()
        data = self.parse(RecordsUploadSerializer)
        upload = data["file"]
        version = services.dataset_import(
            actor=request.user,
            dataset=dataset,
            fileobj=upload,
            filename=upload.name or "",
            format=data.get("format"),
            mapping=data.get("mapping"),
            note=data["note"],
            source=DatasetVersion.Source.API,
        )
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download a version as CSV, JSON or JSONL (streamed)",
        parameters=[
            OpenApiParameter("format", str, enum=["csv", "json", "jsonl"], default="jsonl"),
            VERSION_PARAM,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.BINARY,
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        version = self._version(self.get_object())
        export = services.dataset_export(
            actor=request.user,
            version=version,
            format=request.query_params.get("format", "jsonl"),
            source="api",
        )
        return streamed(export)

    @extend_schema(
        summary="Pin (or unpin) the baseline run new runs are compared with",
        request=BaselineSerializer,
        responses=DatasetSerializer,
    )
    @action(detail=True, methods=["post"])
    def baseline(self, request, pk=None):
        dataset = self.get_object()
        run_id = self.parse(BaselineSerializer)["run_id"]
        run = self.visible_object(Run, run_id, field="run_id")
        definitions.dataset_set_baseline(actor=request.user, dataset=dataset, run=run, source="api")
        return Response(self._fresh(dataset))

    @extend_schema(
        summary="Snapshot matching logged requests into a new version (dynamic datasets)",
        request=None,
        responses={201: DatasetVersionSerializer},
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        version = services.dataset_refresh(
            actor=request.user, dataset=self.get_object(), source="api"
        )
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


INGEST_BODY = PolymorphicProxySerializer(
    component_name="LoggedRequestIngest",
    serializers=[LoggedRequestInputSerializer, LoggedRequestInputSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


@extend_schema_view(
    list=extend_schema(summary="Logged LLM requests, newest first (cursor-paginated)"),
    retrieve=extend_schema(summary="One logged request"),
)
class LoggedRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """What applications log, the raw material of dynamic datasets."""

    queryset = LoggedRequest.objects.select_related("owner")
    serializer_class = LoggedRequestSerializer
    filterset_class = LoggedRequestFilter
    pagination_class = IdCursorPagination

    @extend_schema(
        summary="Log one request (an object) or many (a list of objects)",
        description="Goes to the org of an org-scoped key, else to `?organization=`, else private.",
        request=INGEST_BODY,
        parameters=[
            OpenApiParameter("organization", int, description="Organization id."),
            OpenApiParameter("workspace", int, description="Workspace id."),
        ],
        responses={201: LoggedRequestBatchSerializer},
        examples=[
            OpenApiExample(
                "One request",
                value={
                    "prompt": "What is our refund window?",
                    "response": "30 days.",
                    "model": "gpt-4o-mini",
                    "tags": ["prod", "support"],
                },
                request_only=True,
            )
        ],
    )
    def create(self, request):
        items = request.data if isinstance(request.data, list) else [request.data]
        created = services.logged_requests_ingest(
            actor=request.user, items=items, source="api", **self._placement()
        )
        body = {"count": len(created), "results": LoggedRequestSerializer(created, many=True).data}
        return Response(body, status=status.HTTP_201_CREATED)

    def _placement(self) -> dict:
        params = self.request.query_params
        ids = {name: params.get(name) for name in ("organization", "workspace")}
        parsed = {}
        for name, value in ids.items():
            if value is None:
                continue
            try:
                parsed[name] = id_field().run_validation(value)
            except serializers.ValidationError:
                raise InvalidInput(f"{name} must be an id.", field=name) from None
        return self.sharing_from(parsed)

"""Each product under its own base URL, at the paths of its own documentation."""

from django.urls import include, path

from runs.compat import aegis, aymara, promptlayer, trulayer, vogent

promptlayer_urls = [
    path("reports/<int:report_id>/run", promptlayer.RunReport.as_view(), name="run"),
    path("reports/<int:report_id>", promptlayer.ReportDetail.as_view(), name="report"),
]
trulayer_urls = [
    path("v1/datasets/<str:dataset_id>/runs", trulayer.ScheduleEvalRun.as_view(), name="schedule"),
    path("v1/eval-runs/<str:run_id>", trulayer.EvalRunDetail.as_view(), name="eval-run"),
]
vogent_urls = [
    path("eval_configs/<str:config_id>/runs", vogent.RunEval.as_view(), name="run"),
    path(
        "eval_configs/<str:config_id>/runs/<str:run_id>",
        vogent.RunDetail.as_view(),
        name="run-detail",
    ),
]
aymara_urls = [
    path("v2/eval-runs/-/score-responses", aymara.ScoreResponses.as_view(), name="score"),
    path("v2/eval-runs/<str:run_uuid>", aymara.EvalRunDetail.as_view(), name="eval-run"),
]
aegis_urls = [
    path("runs/dataset", aegis.RunFromDataset.as_view(), name="run-dataset"),
    path("runs/<int:run_id>", aegis.RunDetail.as_view(), name="run"),
]

urlpatterns = [
    path("promptlayer/", include((promptlayer_urls, "promptlayer"))),
    path("trulayer/", include((trulayer_urls, "trulayer"))),
    path("vogent/", include((vogent_urls, "vogent"))),
    path("aymara/", include((aymara_urls, "aymara"))),
    path("aegis/", include((aegis_urls, "aegis"))),
]

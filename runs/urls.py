from django.urls import path

from runs import views

app_name = "runs"

urlpatterns = [
    # Runs: live table, detail panels, actions, export, comparison
    path("runs/", views.run_list, name="list"),
    path("runs/compare/", views.run_compare, name="compare"),
    path("runs/<int:pk>/", views.run_detail, name="detail"),
    path("runs/<int:pk>/summary/", views.run_summary, name="summary"),
    path("runs/<int:pk>/results/", views.run_results, name="results"),
    path("runs/<int:pk>/items/", views.run_items, name="items"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="cancel"),
    path("runs/<int:pk>/rerun-failed/", views.run_rerun_failed, name="rerun_failed"),
    path("runs/<int:pk>/export.<str:fmt>", views.run_export, name="export"),
    # Starting runs: one form per way
    path("runs/new/", views.run_new, name="new"),
    path("runs/new/config/", views.run_new_config, name="new_config"),
    path("runs/new/dataset/", views.run_new_dataset, name="new_dataset"),
    path("runs/new/agent/", views.run_new_agent, name="new_agent"),
    path("runs/new/responses/", views.run_new_responses, name="new_responses"),
    path(
        "runs/new/responses/template-<int:pk>.jsonl",
        views.run_responses_template,
        name="responses_template",
    ),
    path("runs/new/report/", views.run_new_report, name="new_report"),
    # The metric picker's fragments
    path("metrics/args/", views.metric_args, name="metric_args"),
    path("metrics/row/", views.metric_row, name="metric_row"),
    # Definitions
    path("configs/", views.config_list, name="config_list"),
    path("configs/new/", views.config_create, name="config_create"),
    path("configs/<int:pk>/", views.config_detail, name="config_detail"),
    path(
        "configs/<int:pk>/versions/new/", views.config_version_create, name="config_version_create"
    ),
    path("prompts/", views.prompt_list, name="prompt_list"),
    path("prompts/new/", views.prompt_create, name="prompt_create"),
    path("prompts/<int:pk>/", views.prompt_detail, name="prompt_detail"),
    path(
        "prompts/<int:pk>/versions/new/", views.prompt_version_create, name="prompt_version_create"
    ),
    path("agents/", views.agent_list, name="agent_list"),
    path("agents/new/", views.agent_create, name="agent_create"),
    path("agents/<int:pk>/", views.agent_detail, name="agent_detail"),
    path("agents/<int:pk>/edit/", views.agent_edit, name="agent_edit"),
    path("reports/", views.report_list, name="report_list"),
    path("reports/new/", views.report_create, name="report_create"),
    path("reports/<int:pk>/", views.report_detail, name="report_detail"),
]

from rest_framework.routers import SimpleRouter

from runs.api import compat_schema, views  # noqa: F401  (compat_schema: OpenAPI docs)

router = SimpleRouter()
router.register("metrics", views.MetricViewSet, basename="metric")
router.register("models", views.LanguageModelViewSet, basename="model")
router.register("prompts", views.PromptViewSet, basename="prompt")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("eval-configs", views.EvalConfigViewSet, basename="eval-config")
router.register("reports", views.ReportViewSet, basename="report")
router.register("runs", views.RunViewSet, basename="run")

urlpatterns = router.urls

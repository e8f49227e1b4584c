from rest_framework.routers import SimpleRouter

from datasets.api import views

router = SimpleRouter()
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("logged-requests", views.LoggedRequestViewSet, basename="logged-request")

urlpatterns = router.urls

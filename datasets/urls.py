from django.urls import path

from datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("new/", views.dataset_create, name="create"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/records/", views.dataset_records, name="records"),
    path("<int:pk>/upload/", views.dataset_upload, name="upload"),
    path("<int:pk>/upload/preview/", views.dataset_upload_preview, name="upload_preview"),
    path("<int:pk>/refresh/", views.dataset_refresh, name="refresh"),
    path("<int:pk>/metrics/", views.dataset_metrics, name="metrics"),
    path("<int:pk>/baseline/", views.dataset_baseline, name="baseline"),
    path("<int:pk>/v<int:number>/export.<str:fmt>", views.dataset_export, name="export"),
]

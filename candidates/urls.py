from django.urls import path

from . import import_views, views

app_name = "candidates"
urlpatterns = [
    path("candidates/", views.candidate_list, name="list"),
    path("candidates/<int:pk>/", views.candidate_detail, name="detail"),
    path("candidates/<int:pk>/edit/", views.candidate_edit, name="edit"),
    path("candidates/<int:pk>/cnie/", views.cnie_view, name="cnie_view"),
    path("candidates/<int:pk>/cnie/upload/", views.cnie_upload, name="cnie_upload"),
    path("candidates/<int:pk>/mrz/", views.mrz_confirm, name="mrz"),
    path("imports/", import_views.import_upload, name="import"),
    path("imports/<int:pk>/", import_views.import_job, name="import_job"),
    path("imports/template.csv", import_views.import_template, name="import_template"),
]

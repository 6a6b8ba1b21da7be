from django.urls import path

from . import views

app_name = "candidates"
urlpatterns = [
    path("candidates/", views.candidate_list, name="list"),
    path("imports/", views.import_upload, name="import"),
]

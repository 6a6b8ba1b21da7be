from django.urls import path

from . import views

app_name = "convocations"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("download.pdf", views.download, name="download"),
    path("check/", views.check, name="check"),
    path("keys.json", views.keys, name="keys"),
    path("api/verify", views.api_verify, name="api_verify"),
]

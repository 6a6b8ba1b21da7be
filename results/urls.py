from django.urls import path

from . import api, views

app_name = "results"
urlpatterns = [
    path("", views.lookup, name="lookup"),
    path("mine/", views.mine, name="mine"),
    # Also answered before Django by results.api.LookupFastPath (same path: keep them equal).
    path("api/lookup", api.lookup_api, name="api_lookup"),
    path("api/openapi.json", views.openapi, name="openapi"),
    path("export-key.json", views.export_key, name="export_key"),
]

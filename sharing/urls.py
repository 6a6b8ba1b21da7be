from django.urls import path

from . import views

app_name = "sharing"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("download/<str:face>", views.download, name="download"),
    path("links/new/", views.create_link, name="create_link"),
    path("links/<int:pk>/", views.link, name="link"),
    path("links/<int:pk>/revoke/", views.revoke_link, name="revoke_link"),
    path("offline/", views.offline, name="offline"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("s/<str:token>/", views.shared, name="shared"),
    path("s/<str:token>/diploma.sd-jwt", views.shared_sd_jwt, name="shared_sd_jwt"),
    path("verify/", views.verify, name="verify"),
    path("api/verify", views.api_verify, name="api_verify"),
    path("api/openapi.json", views.openapi, name="openapi"),
]

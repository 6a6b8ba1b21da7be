"""/.well-known/ documents of the diploma issuer (included from bac/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("did.json", views.did_document, name="diplomas_did"),
    path("jwt-vc-issuer", views.jwt_vc_issuer, name="diplomas_jwt_vc_issuer"),
]

from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("", views.notice, name="notice"),
    path("mine/", views.mine, name="mine"),
    path("mine/export/", views.export, name="export"),
    path("mine/consent/", views.consent, name="consent"),
]

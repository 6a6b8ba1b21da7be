from django.urls import path, re_path

from . import views

app_name = "scholarships"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("start/", views.start, name="start"),
    path("step/<slug:step>/", views.step, name="step"),
    path("review/", views.review, name="review"),
    path("submit/", views.submit, name="submit"),
    path("receipt/", views.receipt, name="receipt"),
    path("appeal/", views.appeal, name="appeal"),
    path("documents/<int:pk>/", views.my_document, name="my_document"),
    path("commission/", views.commission_list, name="commission_list"),
    path("commission/bulk/", views.commission_bulk, name="commission_bulk"),
    path("commission/rank/", views.commission_rank, name="commission_rank"),
    path("commission/register/", views.commission_register, name="commission_register"),
    path("commission/statistics/", views.commission_statistics, name="commission_statistics"),
    path("commission/programme/", views.programme_edit, name="programme"),
    re_path(
        r"^commission/export\.(?P<fmt>csv|xlsx)$",
        views.commission_export,
        name="commission_export",
    ),
    path("commission/<int:pk>/", views.commission_detail, name="commission_detail"),
    path("commission/<int:pk>/appeal/", views.commission_appeal, name="commission_appeal"),
    path(
        "commission/documents/<int:pk>/",
        views.commission_document,
        name="commission_document",
    ),
]

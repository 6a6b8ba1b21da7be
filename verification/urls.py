from django.urls import path

from . import views

app_name = "verification"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("confirm/", views.confirm, name="confirm"),
    path("report/", views.report, name="report"),
    path("reports/<int:pk>/evidence/", views.my_evidence, name="my_evidence"),
    path("staff/", views.queue, name="queue"),
    path("staff/bulk/", views.bulk, name="bulk"),
    path("staff/dashboard/", views.dashboard, name="dashboard"),
    path("staff/<int:pk>/", views.decide, name="decide"),
    path("staff/<int:pk>/evidence/", views.staff_evidence, name="staff_evidence"),
]

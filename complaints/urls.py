from django.urls import path

from . import views

app_name = "complaints"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("file/", views.file, name="file"),
    path("staff/", views.queue, name="queue"),
    path("staff/overdue/", views.overdue, name="overdue"),
    path("staff/statistics/", views.statistics, name="statistics"),
    path("staff/statistics/export.csv", views.export, name="export"),
    path("staff/<int:pk>/", views.review, name="review"),
    path("staff/<int:pk>/assign/", views.assign, name="assign"),
    path("staff/<int:pk>/scan/", views.upload_scan, name="upload_scan"),
    path("staff/<int:pk>/scan/view/", views.scan, name="scan"),
    path("staff/<int:pk>/decide/", views.decide, name="decide"),
    path("staff/<int:pk>/approve/", views.approve, name="approve"),
    path("staff/<int:pk>/return/", views.send_back, name="send_back"),
    path("<str:reference>/", views.detail, name="detail"),
]

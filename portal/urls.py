from django.urls import path

from candidates.views import my_cnie_copy

from . import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("my-file/history/", views.history, name="history"),
    path("my-file/cnie/", my_cnie_copy, name="my_cnie_copy"),
]

from django.urls import path  # noqa: F401

app_name = "results_staff"
urlpatterns: list = []

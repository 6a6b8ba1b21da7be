from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("<slug:kind>/<str:reference>/", views.batch, name="batch"),
]

from django.urls import path

from . import views

app_name = "exams"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("academies/<int:pk>/", views.academy_detail, name="academy"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/new/", views.session_edit, name="session_create"),
    path("sessions/<int:pk>/", views.session_detail, name="session"),
    path("sessions/<int:pk>/edit/", views.session_edit, name="session_edit"),
    path("sessions/<int:session_pk>/windows/new/", views.window_edit, name="window_create"),
    path("windows/<int:pk>/edit/", views.window_edit, name="window_edit"),
    path("tracks/", views.track_list, name="tracks"),
    path("tracks/new/", views.track_edit, name="track_create"),
    path("tracks/<int:pk>/edit/", views.track_edit, name="track_edit"),
    path("schools/new/", views.school_edit, name="school_create"),
    path("schools/<int:pk>/edit/", views.school_edit, name="school_edit"),
    path("centres/new/", views.centre_edit, name="centre_create"),
    path("centres/<int:pk>/edit/", views.centre_edit, name="centre_edit"),
]

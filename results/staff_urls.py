from django.urls import path

from . import staff_views

app_name = "results_staff"
urlpatterns = [
    path("", staff_views.index, name="index"),
    path("grades/import/", staff_views.grades_import, name="grades_import"),
    path("grades/import/template.csv", staff_views.grades_template, name="grades_template"),
    path("grades/", staff_views.grade_entry, name="grade_entry"),
    path("grades/<str:massar_code>/", staff_views.candidate_grades, name="candidate_grades"),
    path("computations/", staff_views.computations, name="computations"),
    path("computations/<int:pk>/", staff_views.computation, name="computation"),
]

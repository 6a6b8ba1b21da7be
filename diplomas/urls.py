from django.urls import path

from . import views

app_name = "diplomas"
urlpatterns = [
    path("jwks.json", views.jwks, name="jwks"),
    path("status/<int:list_id>.json", views.status_list, name="status_list"),
    path("vct/baccalaureate.json", views.vct, name="vct"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/<int:pk>/revoke/", views.revoke, name="revoke"),
    path("staff/issue/", views.issue, name="issue"),
    path("staff/runs/<int:pk>/", views.run_detail, name="run"),
    path("staff/refusals/", views.refusals, name="refusals"),
]

from django.urls import path

from . import publication_views as views

app_name = "publications"
urlpatterns = [
    path("", views.publication_list, name="list"),
    path("new/", views.publication_create, name="create"),
    path("<int:pk>/", views.publication_detail, name="detail"),
    path("<int:pk>/withdraw/", views.publication_withdraw, name="withdraw"),
]

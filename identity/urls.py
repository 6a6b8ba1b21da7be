from django.urls import path

from . import views

app_name = "identity"
urlpatterns = [
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("activate/", views.activate, name="activate"),
]

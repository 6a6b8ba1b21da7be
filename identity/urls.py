from django.urls import path

from . import views

app_name = "identity"
urlpatterns = [
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/code/", views.verify_code, name="verify_code"),
    path("sign-in/authenticator/", views.totp_enrol, name="totp_enrol"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("activate/", views.activate, name="activate"),
    path("activate/code/", views.activate_code, name="activate_code"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/code/", views.password_reset_code, name="password_reset_code"),
]
urlpatterns += [
    path("sign-in/national-identity/", views.oidc_start, name="oidc_start"),
    path("sign-in/national-identity/callback/", views.oidc_callback, name="oidc_callback"),
]

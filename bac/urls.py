from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language


def _superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


# Django's admin stays for superusers; staff work in the back office.
admin.site.has_permission = _superusers_only

urlpatterns = [
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("portal.urls")),
    path("account/", include("identity.urls")),
    path("staff/", include("candidates.urls")),
    path("staff/structure/", include("exams.urls")),
    path("results/", include("results.urls")),
    path("convocation/", include("convocations.urls")),
    path("verification/", include("verification.urls")),
    path("staff/results/", include("results.staff_urls")),
    path("staff/publications/", include("results.publication_urls")),
    path("staff/notifications/", include("notifications.urls")),
    path("complaints/", include("complaints.urls")),
    path("scholarship/", include("scholarships.urls")),
    path("diplomas/", include("diplomas.urls")),
    path(".well-known/", include("diplomas.well_known_urls")),
    path("diploma/", include("sharing.urls")),
    path("privacy/", include("privacy.urls")),
    path("", include("ops.urls")),
    path("django-admin/", admin.site.urls),
]

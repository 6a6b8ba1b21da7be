"""The project-level URLs: the language switch and Django's admin, which is for superusers
only (bac/urls.py); every other persona is sent to the admin's sign-in page
(format: tests/privacy/matrix.py). The admin's URLs are generated per registered model, hence
the one glob entry: a model registered later is covered with the same expectations."""

from tests.privacy.matrix import OK, SUPERUSERS, Entry, profile  # noqa: F401

ADMIN_KWARGS = {
    "object_id": "=1",
    "content_type_id": "=1",
    "app_label": "=exams",
    "url": "=nothing-here/",
}

ENTRIES = {
    "set_language": Entry(profile(OK), post=profile(OK)),
    "admin:*": Entry(SUPERUSERS, kwargs=ADMIN_KWARGS),
    "admin:login": Entry(profile(200)),
    # Non-superusers are sent to the admin's index (then to its sign-in page).
    "admin:logout": Entry(profile(302), post=profile(302)),
}

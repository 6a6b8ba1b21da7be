from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        # Celery signals: the request id travels into tasks (web and workers import this app).
        from . import celery  # noqa: F401

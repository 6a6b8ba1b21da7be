from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VerificationConfig(AppConfig):
    name = "verification"
    verbose_name = _("Data verification")

    def ready(self) -> None:
        # Registers the "correction_decided" notification kind wherever Django runs (web and
        # workers), not only where the views are imported.
        from . import services  # noqa: F401

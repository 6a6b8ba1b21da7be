from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = _("Complaints")

    def ready(self) -> None:
        from . import privacy_hooks

        # What the app holds about candidates, in the register of personal data.
        privacy_hooks.register_data_kinds()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Diploma sharing and verification")

    def ready(self) -> None:
        # Share links and their view log, in the register of personal data.
        from . import privacy_hooks

        privacy_hooks.register_data_kinds()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiplomasConfig(AppConfig):
    name = "diplomas"
    verbose_name = _("Diplomas")

    def ready(self) -> None:
        from results import signals as results_signals

        from . import messages, privacy_hooks, receivers

        messages.register()
        # What the app holds about candidates, in the register of personal data.
        privacy_hooks.register_data_kinds()
        results_signals.result_republished.connect(
            receivers.on_result_republished, dispatch_uid="diplomas.result_republished"
        )
        results_signals.publication_made_public.connect(
            receivers.on_publication_made_public, dispatch_uid="diplomas.publication_public"
        )

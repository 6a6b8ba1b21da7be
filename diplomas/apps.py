from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiplomasConfig(AppConfig):
    name = "diplomas"
    verbose_name = _("Diplomas")

    def ready(self) -> None:
        from results import signals as results_signals

        from . import messages, receivers

        messages.register()
        results_signals.result_republished.connect(
            receivers.on_result_republished, dispatch_uid="diplomas.result_republished"
        )
        results_signals.publication_made_public.connect(
            receivers.on_publication_made_public, dispatch_uid="diplomas.publication_public"
        )

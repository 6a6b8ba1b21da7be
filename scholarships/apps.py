from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScholarshipsConfig(AppConfig):
    name = "scholarships"
    verbose_name = _("Scholarships")

    def ready(self) -> None:
        # Applications follow the bac results: re-checked once results are public, and again
        # when one result is corrected (e.g. after a complaint).
        from results import signals

        from . import privacy_hooks, services

        signals.publication_made_public.connect(
            services.on_publication_made_public, dispatch_uid="scholarships.recheck_publication"
        )
        signals.result_republished.connect(
            services.on_result_republished, dispatch_uid="scholarships.recheck_republished"
        )
        # What the app holds about candidates, in the register of personal data.
        privacy_hooks.register_data_kinds()

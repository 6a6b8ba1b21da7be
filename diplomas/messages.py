"""The notifications the diploma service sends (a reason or a grade is never in the text)."""

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from notifications.messages import register_kind

    register_kind(
        "diploma_refused",
        label=_("Diploma not issued"),
        sms=_("Bac e-Services: your digital diploma could not be issued. See why at %(url)s"),
        subject=_("Your digital diploma could not be issued"),
        paragraphs=(
            _(
                "Your digital baccalaureate diploma could not be issued: your file has no CNIE number."
            ),
            _("Ask your school to add it; the diploma will then be issued. Details at %(url)s"),
        ),
    )
    register_kind(
        "diploma_revoked",
        label=_("Diploma revoked"),
        sms=_("Bac e-Services: your digital diploma has been revoked. See why at %(url)s"),
        subject=_("Your digital diploma has been revoked"),
        paragraphs=(
            _("Your digital baccalaureate diploma has been revoked."),
            _("Sign in to see why at %(url)s"),
        ),
    )
    register_kind(
        "diploma_replaced",
        label=_("Diploma replaced"),
        sms=_("Bac e-Services: your digital diploma has been replaced. See it at %(url)s"),
        subject=_("Your digital diploma has been replaced"),
        paragraphs=(
            _("Your digital baccalaureate diploma has been replaced by a new one."),
            _("The previous one is no longer valid. Sign in to see the new one at %(url)s"),
        ),
    )

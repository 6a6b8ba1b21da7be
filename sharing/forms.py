from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .models import DEFAULT_REVEALED, FieldGroup
from .services import DEFAULT_EXPIRY_DAYS, EXPIRY_CHOICES_DAYS


def _expiry_label(days: int | None) -> str:
    if days is None:
        return gettext("Never (until I revoke it)")
    if days == 365:
        return gettext("1 year")
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


def _expiry_choices() -> list[tuple[str, str]]:
    # A callable: Django calls it at each rendering, in the language of the request.
    return [(str(d or 0), _expiry_label(d)) for d in EXPIRY_CHOICES_DAYS]


class ShareLinkForm(forms.Form):
    label = forms.CharField(
        label=_("Who is it for? (optional)"),
        help_text=_("A note for you only, e.g. the university or employer."),
        max_length=80,
        required=False,
    )
    revealed = forms.MultipleChoiceField(
        label=_("Show on the link"),
        help_text=_(
            "Your names, the diploma number, track, session and its status are always shown. "
            "Untick what you do not want to share."
        ),
        choices=FieldGroup.choices,
        initial=list(DEFAULT_REVEALED),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    expires_in = forms.TypedChoiceField(
        label=_("The link expires after"),
        choices=_expiry_choices,
        initial=str(DEFAULT_EXPIRY_DAYS),
        coerce=int,
    )


def max_upload_bytes() -> int:
    return getattr(settings, "DIPLOMA_VERIFY_MAX_BYTES", 5 * 1024 * 1024)


class VerifyForm(forms.Form):
    text = forms.CharField(
        label=_("Link or code"),
        help_text=_(
            "Paste a share link, the text of the QR code, an SD-JWT or the JSON of the credential."
        ),
        required=False,
        strip=True,
        max_length=200_000,
        widget=forms.Textarea(
            attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false", "dir": "ltr"}
        ),
    )
    document = forms.FileField(
        label=_("Or upload the diploma file"),
        help_text=_("The PDF of the diploma or its credential.json, at most 5 MB."),
        required=False,
        widget=forms.ClearableFileInput(
            attrs={"accept": ".pdf,.json,.jsonld,.sd-jwt,.txt,application/pdf,application/json"}
        ),
    )

    def clean_document(self):
        document = self.cleaned_data.get("document")
        if document is not None and document.size > max_upload_bytes():
            raise forms.ValidationError(
                _("This file is larger than the limit of %(size)d MB."),
                params={"size": max_upload_bytes() // (1024 * 1024)},
                code="too_large",
            )
        return document

    def clean(self):
        data = super().clean()
        if not data.get("text") and not data.get("document") and not self.errors:
            raise forms.ValidationError(_("Paste a link or code, or choose a file."))
        return data

    def payload(self) -> bytes | str:
        document = self.cleaned_data.get("document")
        if document is not None:
            return document.read()
        return self.cleaned_data["text"]

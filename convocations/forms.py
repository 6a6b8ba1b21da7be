from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .codec import MAX_TEXT_LENGTH


class CheckForm(forms.Form):
    qr = forms.CharField(
        label=_("Text of the QR code"),
        help_text=_("Scan the code on the convocation, or type or paste the text it holds."),
        max_length=MAX_TEXT_LENGTH,
        # A space is a character of the code: only line breaks are trimmed (codec.normalise).
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "dir": "ltr",
            }
        ),
    )

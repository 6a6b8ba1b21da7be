"""Forms of data verification: a report on one field, a decision, the MRZ step."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .messages import field_label
from .services import REPORTABLE_FIELDS, evidence_max_bytes


class ReportForm(forms.Form):
    """One field reported as wrong. The field is validated by the service (an unknown field is
    refused there with a clear message), so that the same rule holds for every caller."""

    field = forms.CharField(label=_("Field that is wrong"), max_length=32, widget=forms.Select)
    proposed_value = forms.CharField(label=_("Correct value"), max_length=120)
    evidence = forms.FileField(
        label=_("Evidence"),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )
    comment = forms.CharField(
        label=_("Comment (optional)"), max_length=500, required=False, widget=forms.Textarea
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].widget.choices = [(n, field_label(n)) for n in REPORTABLE_FIELDS]
        limit = evidence_max_bytes() / (1024 * 1024)
        self.fields["evidence"].help_text = _(
            "A photo (JPEG or PNG) or a PDF of a document that shows the correct value, such as "
            "your CNIE or birth certificate. At most %(limit)s MB."
        ) % {"limit": f"{limit:g}"}
        self.fields["proposed_value"].help_text = _(
            "As it is written on your document. A date as day/month/year."
        )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("accept", _("Accept the correction")), ("reject", _("Reject the report"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason (required to reject; the candidate reads it)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class BulkDecisionForm(DecisionForm):
    confirmed = forms.BooleanField(
        label=_("I have checked the selected reports and confirm this decision for all of them."),
        required=True,
    )


class MrzForm(forms.Form):
    line1 = forms.CharField(label=_("Line 1"), max_length=44, required=True)
    line2 = forms.CharField(label=_("Line 2"), max_length=44, required=True)
    line3 = forms.CharField(label=_("Line 3"), max_length=44, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("line1", "line2", "line3"):
            self.fields[name].widget.attrs.update(
                {"autocomplete": "off", "spellcheck": "false", "class": "ltr mrz", "dir": "ltr"}
            )
        self.fields["line1"].help_text = _(
            "The three lines of 30 characters at the bottom of the back of the card (< as shown)."
        )

    def zone(self) -> str:
        lines = [self.cleaned_data.get(n, "") for n in ("line1", "line2", "line3")]
        return "\n".join(line.strip().upper().replace(" ", "") for line in lines if line.strip())

"""Forms of the complaints service. They only shape input; the rules are in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ErrorKind
from .services import COMMENT_MAX_LENGTH, TEXT_MAX_LENGTH, scan_max_bytes


class FileForm(forms.Form):
    subject = forms.TypedChoiceField(label=_("Subject"), coerce=int, choices=())
    kind = forms.ChoiceField(
        label=_("Kind of material error"), choices=ErrorKind.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example the number of the question or exercise concerned."),
    )

    def __init__(self, *args: Any, subjects: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["subject"].choices = subjects


class AssignForm(forms.Form):
    reviewer = forms.TypedChoiceField(label=_("Reviewer"), coerce=int, choices=())

    def __init__(self, *args: Any, reviewers: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].choices = reviewers


class ScanForm(forms.Form):
    scan = forms.FileField(
        label=_("Scan of the answer sheet"),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scan"].help_text = _(
            "A PDF, JPEG or PNG of at most %(limit)s MB. It is stored encrypted."
        ) % {"limit": f"{scan_max_bytes() / (1024 * 1024):g}"}


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("reject", _("Reject: no material error")),
            ("accept", _("Accept: the mark must be corrected")),
        ],
        widget=forms.RadioSelect,
    )
    finding = forms.CharField(
        label=_("Finding on the answer sheet (staff only)"),
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reason = forms.CharField(
        label=_("Reason (the candidate reads it)"),
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Checked by the service, which says what is wrong with it (range, decimals).
    corrected_mark = forms.CharField(
        label=_("Corrected mark (/20), if accepted"),
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class ReturnForm(forms.Form):
    note = forms.CharField(
        label=_("Why the correction is not approved"),
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

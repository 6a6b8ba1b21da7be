from django import forms
from django.utils.translation import gettext_lazy as _

from exams.models import ExamSession


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason of the revocation"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("Recorded in the audit trail. The holder is told the diploma is revoked."),
    )


class IssueForm(forms.Form):
    session = forms.ModelChoiceField(
        label=_("Session"), queryset=ExamSession.objects.order_by("-year", "code")
    )


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Diploma number or Massar code"), required=False, max_length=40)

"""The forms of the application steps and of the commission. They check shapes; the rules
(window, eligibility, membership) live in scholarships.services."""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from exams.models import Academy

from .models import Decision, DocumentKind, Relation, Situation, Status
from .register import parse_number


class IdentityForm(forms.Form):
    address = forms.CharField(
        label=_("Postal address"),
        max_length=240,
        help_text=_("Where the grant letters can reach you."),
    )
    confirm = forms.BooleanField(label=_("The identity above is mine and correct"), required=True)


class MemberForm(forms.Form):
    relation = forms.ChoiceField(label=_("Relation to you"), choices=Relation.choices)
    age = forms.IntegerField(label=_("Age"), min_value=0, max_value=120)
    situation = forms.ChoiceField(label=_("Situation"), choices=Situation.choices)


class AmountField(forms.CharField):
    """An amount in dirhams typed as text: a clear message when it is not a number."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            amount = parse_number(value)
        except ValueError:
            raise forms.ValidationError(
                _("Type the amount as a number of dirhams, e.g. 24000."), code="not_a_number"
            ) from None
        if amount is not None and amount > Decimal("9999999999"):
            raise forms.ValidationError(_("This amount is too large."), code="too_large")
        return amount


class IncomesForm(forms.Form):
    household_income = AmountField(
        label=_("Yearly income of the household (MAD)"),
        help_text=_("All the salaries, pensions and earnings of the household in a year."),
    )
    other_income = AmountField(
        label=_("Other yearly income (MAD)"),
        required=False,
        help_text=_("Allowances, rents, help from relatives. Leave empty if none."),
    )
    employed = forms.BooleanField(label=_("I have a paid job"), required=False)

    def clean_other_income(self):
        return self.cleaned_data.get("other_income") or Decimal("0")


class RegistersForm(forms.Form):
    rnp_number = forms.CharField(label=_("RNP identifier"), max_length=20)
    rsu_number = forms.CharField(label=_("RSU identifier of the household"), max_length=20)
    rsu_index = forms.CharField(
        label=_("RSU index"),
        max_length=20,
        help_text=_("As written on your RSU registration certificate, e.g. 8.31."),
    )

    def clean_rsu_number(self) -> str:
        return self.cleaned_data["rsu_number"].replace(" ", "").replace("-", "").upper()

    def clean_rnp_number(self) -> str:
        return self.cleaned_data["rnp_number"].replace(" ", "").upper()

    def clean_rsu_index(self):
        try:
            value = parse_number(self.cleaned_data["rsu_index"])
        except ValueError:
            raise forms.ValidationError(
                _("Type the index as a number, e.g. 8.31."), code="not_a_number"
            ) from None
        if value is None or value >= 1000:
            raise forms.ValidationError(_("Type the index as a number, e.g. 8.31."))
        return value.quantize(Decimal("0.0000001"))


class StudiesForm(forms.Form):
    institution = forms.CharField(label=_("Institution you intend to enrol in"), max_length=160)
    institution_city = forms.CharField(label=_("City"), max_length=80)
    field_of_study = forms.CharField(label=_("Field of study"), max_length=120)
    public_institution = forms.BooleanField(
        label=_("It is a public institution (university, public school or institute)"),
        required=False,
    )


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of document"), choices=DocumentKind.choices)
    file = forms.FileField(label=_("File"), help_text=_("PDF, JPEG or PNG."), allow_empty_file=True)


class AppealForm(forms.Form):
    text = forms.CharField(
        label=_("Why do you appeal?"), widget=forms.Textarea(attrs={"rows": 4}), max_length=3000
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[c for c in Decision.choices if c[0]],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason (required for a refusal)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AppealDecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome of the appeal"),
        choices=[
            ("dismiss", _("Dismiss")),
            ("full", _("Uphold: full grant")),
            ("half", _("Uphold: half grant")),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class FilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All"))] + [c for c in Status.choices if c[0] != Status.DRAFT],
    )
    decision = forms.ChoiceField(
        label=_("Decision"),
        required=False,
        choices=[("", _("All"))] + [c for c in Decision.choices if c[0]],
    )
    q = forms.CharField(label=_("Reference, Massar code or RSU"), required=False, max_length=40)
    academy = forms.ModelChoiceField(
        label=_("Academy"), queryset=Academy.objects.all(), required=False, empty_label=_("All")
    )
    flagged = forms.BooleanField(label=_("Duplicate RSU only"), required=False)

    def __init__(self, *args, national: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not national:
            # An academy's members see only their academy: the choice would be empty talk.
            del self.fields["academy"]


class RegisterImportForm(forms.Form):
    file = forms.FileField(label=_("Social-register extract (CSV)"))


class VersionForm(forms.Form):
    opens_at = forms.DateTimeField(
        label=_("Applications open at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    closes_at = forms.DateTimeField(
        label=_("Applications close at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    bac_date = forms.DateField(
        label=_("Bac date (for the age rule)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    full_amount = forms.DecimalField(
        label=_("Full grant (MAD a year)"), min_value=0, max_digits=9, decimal_places=2
    )
    half_amount = forms.DecimalField(
        label=_("Half grant (MAD a year)"), min_value=0, max_digits=9, decimal_places=2
    )
    nationality = forms.CharField(label=_("Required nationality"), max_length=3, required=False)
    age_limit = forms.IntegerField(label=_("Age limit on the bac date"), min_value=10, max_value=99)
    require_bac_of_year = forms.BooleanField(label=_("Bac of the year required"), required=False)
    require_public_institution = forms.BooleanField(
        label=_("Enrolment in a public institution required"), required=False
    )
    require_no_employment = forms.BooleanField(label=_("No employment required"), required=False)
    require_rnp = forms.BooleanField(label=_("RNP registration required"), required=False)
    require_rsu = forms.BooleanField(label=_("RSU registration required"), required=False)
    rsu_threshold = forms.DecimalField(
        label=_("RSU index threshold"), min_value=0, max_digits=10, decimal_places=7
    )
    full_grant_max_index = forms.DecimalField(
        label=_("RSU index up to which the full grant is proposed"),
        min_value=0,
        max_digits=10,
        decimal_places=7,
    )
    income_ceiling = forms.DecimalField(
        label=_("Yearly income per person that scores 0 (MAD)"),
        min_value=1,
        max_digits=12,
        decimal_places=2,
    )
    required_documents = forms.MultipleChoiceField(
        label=_("Required documents"),
        choices=DocumentKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    weights = forms.CharField(
        label=_("Scoring weights (JSON)"),
        help_text=_(
            'Criteria social, income, household, merit, e.g. {"social": 50, "income": 25, "household": 10, "merit": 15}.'
        ),
    )
    budget_grants = forms.IntegerField(
        label=_("Budget: number of grants"), min_value=0, required=False
    )
    budget_amount = forms.DecimalField(
        label=_("Budget: total amount (MAD)"),
        min_value=0,
        max_digits=14,
        decimal_places=2,
        required=False,
    )
    appeal_days = forms.IntegerField(
        label=_("Days to appeal after a decision"), min_value=1, max_value=90
    )
    max_document_bytes = forms.IntegerField(
        label=_("Largest document (bytes)"), min_value=10_000, max_value=20 * 1024 * 1024
    )
    reason = forms.CharField(label=_("Reason for the change"), max_length=300)

    def clean_weights(self) -> dict:
        try:
            value = json.loads(self.cleaned_data["weights"])
        except ValueError:
            raise forms.ValidationError(_("The weights are not valid JSON.")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The weights are not valid JSON."))
        return value

    def clean_nationality(self) -> str:
        return self.cleaned_data["nationality"].strip().upper()

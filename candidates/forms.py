"""Back-office forms: searching the candidate list, editing a file, uploading a CNIE copy."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core import validators
from django.utils.translation import gettext_lazy as _

from exams.models import CandidateType, ExamSession, School, Track
from identity.access import scope_schools
from identity.models import Role

from .file_services import CandidateFilters
from .identifiers import (
    is_valid_cnie,
    is_valid_massar,
    normalize_cnie,
    normalize_massar,
    normalize_phone,
)
from .models import Candidate

ALL_SESSIONS = "all"


class CandidateFilterForm(forms.Form):
    """The search and filters of the candidate list (GET). Every choice is within the user's
    scope; the session defaults to the current one."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=80,
        help_text=_("Massar code, CNIE number, or the start of a family or given name."),
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    session = forms.ChoiceField(label=_("Session"), required=False)
    school = forms.ModelChoiceField(
        label=_("School"),
        queryset=School.objects.none(),
        required=False,
        empty_label=_("All schools"),
    )
    track = forms.ModelChoiceField(
        label=_("Track"), queryset=Track.objects.all(), required=False, empty_label=_("All tracks")
    )
    candidate_type = forms.ChoiceField(
        label=_("Candidate type"),
        required=False,
        choices=[("", _("All types")), *CandidateType.choices],
    )
    cnie_copy = forms.ChoiceField(
        label=_("CNIE copy"),
        required=False,
        choices=[("", _("With or without")), ("yes", _("Uploaded")), ("no", _("Missing"))],
    )

    def __init__(self, data: Any, user, current_session: ExamSession | None) -> None:
        default_session = str(current_session.pk) if current_session else ALL_SESSIONS
        data = data.copy()
        if not data.get("session"):
            data["session"] = default_session
        super().__init__(data)
        sessions = [(str(s.pk), s.name) for s in ExamSession.objects.only("pk", "name")]
        self.fields["session"].choices = [(ALL_SESSIONS, _("All sessions")), *sessions]
        self.fields["session"].initial = default_session
        if user.role == Role.SCHOOL:
            del self.fields["school"]
        elif user.role == Role.MINISTRY:
            # ~1,800 schools nationally: a code box rather than a huge list.
            self.fields["school"] = forms.CharField(
                label=_("School code"), required=False, max_length=16
            )
        else:
            self.fields["school"].queryset = scope_schools(
                user, School.objects.only("pk", "code", "name_fr")
            )

    def filters(self) -> CandidateFilters:
        """The filters to apply; an invalid form falls back to the defaults."""
        data = self.cleaned_data if self.is_valid() else {}
        session = data.get("session") or self.fields["session"].initial
        cnie = data.get("cnie_copy", "")
        return CandidateFilters(
            query=data.get("q", ""),
            session_id=None if session == ALL_SESSIONS else int(session),
            school_id=data["school"].pk if isinstance(data.get("school"), School) else None,
            school_code=data["school"].strip() if isinstance(data.get("school"), str) else "",
            track_id=data["track"].pk if data.get("track") else None,
            candidate_type=data.get("candidate_type", ""),
            has_cnie_copy={"yes": True, "no": False}.get(cnie),
        )


class CandidateFileForm(forms.ModelForm):
    """The personal fields of a file, normalised and validated with the identifier rules.

    The school is not editable here: moving a candidate to another school is a transfer.
    """

    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=500,
        help_text=_("Say why, and on what evidence (e.g. the CNIE copy, the birth certificate)."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = Candidate
        fields = [
            "massar_code",
            "cnie_number",
            "last_name_latin",
            "first_name_latin",
            "last_name_ar",
            "first_name_ar",
            "birth_date",
            "birth_place_latin",
            "birth_place_ar",
            "sex",
            "nationality",
            "track",
            "candidate_type",
            "phone",
            "email",
        ]
        widgets = {
            "birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "massar_code": forms.TextInput(attrs={"dir": "ltr", "autocomplete": "off"}),
            "cnie_number": forms.TextInput(attrs={"dir": "ltr", "autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"type": "tel", "dir": "ltr"}),
            "email": forms.EmailInput(attrs={"dir": "ltr"}),
            "last_name_ar": forms.TextInput(attrs={"dir": "rtl", "lang": "ar"}),
            "first_name_ar": forms.TextInput(attrs={"dir": "rtl", "lang": "ar"}),
            "birth_place_ar": forms.TextInput(attrs={"dir": "rtl", "lang": "ar"}),
        }
        help_texts = {
            "massar_code": _("One letter and nine digits, e.g. R130046852."),
            "cnie_number": _("One or two letters and five or six digits, e.g. BE123456."),
            "phone": _("A Moroccan mobile number, e.g. 0612345678."),
            "nationality": _("Three-letter country code, e.g. MAR."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # People type identifiers with spaces and dashes; the length is checked once normalised.
        for name in ("massar_code", "cnie_number", "phone"):
            field = self.fields[name]
            field.max_length = field.widget.attrs["maxlength"] = 32
            field.validators = [
                v for v in field.validators if not isinstance(v, validators.MaxLengthValidator)
            ]

    def clean_massar_code(self) -> str:
        value = normalize_massar(self.cleaned_data["massar_code"])
        if not is_valid_massar(value):
            raise forms.ValidationError(
                _("A Massar code is one letter and nine digits, e.g. R130046852."), code="invalid"
            )
        taken = (
            Candidate.objects.filter(session_id=self.instance.session_id, massar_code=value)
            .exclude(pk=self.instance.pk)
            .exists()
        )
        if taken:
            raise forms.ValidationError(
                _("Another file of this session already has this Massar code."), code="unique"
            )
        return value

    def clean_cnie_number(self) -> str:
        value = normalize_cnie(self.cleaned_data.get("cnie_number") or "")
        if value and not is_valid_cnie(value):
            raise forms.ValidationError(
                _("A CNIE number is one or two letters and five or six digits, e.g. BE123456."),
                code="invalid",
            )
        return value

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone") or ""
        if not raw.strip():
            return ""
        value = normalize_phone(raw)
        if value is None:
            raise forms.ValidationError(
                _("Enter a Moroccan mobile number, e.g. 0612345678 or +212612345678."),
                code="invalid",
            )
        return value

    def clean_nationality(self) -> str:
        value = (self.cleaned_data.get("nationality") or "").strip().upper()
        if len(value) != 3 or not value.isascii() or not value.isalpha():
            raise forms.ValidationError(
                _("Use the three-letter country code, e.g. MAR."), code="invalid"
            )
        return value

    def file_values(self) -> dict[str, Any]:
        """The submitted values of the file's fields (without the reason)."""
        return {name: self.cleaned_data[name] for name in self._meta.fields}


class CnieUploadForm(forms.Form):
    document = forms.FileField(
        label=_("Copy of the CNIE"),
        help_text=_("A JPEG or PNG photo, or a PDF scan, of both sides of the card."),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_mb = settings.CNIE_UPLOAD_MAX_BYTES / (1024 * 1024)
        self.fields["document"].help_text = _(
            "A JPEG or PNG photo, or a PDF scan, of both sides of the card. At most %(limit)s MB."
        ) % {"limit": f"{limit_mb:g}"}

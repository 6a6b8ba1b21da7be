"""Forms of the structure back office. Choices are narrowed to the user's scope."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import inlineformset_factory
from django.utils.translation import gettext_lazy as _

from identity.access import scope_directorates

from .models import (
    Directorate,
    ExamCentre,
    ExamSession,
    School,
    SessionWindow,
    Subject,
    Track,
    TrackSubject,
)

_DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _ScopedDirectorateForm(forms.ModelForm):
    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["directorate"].queryset = scope_directorates(
            user, Directorate.objects.select_related("academy")
        )
        self.fields["directorate"].label_from_instance = lambda d: f"{d.academy.code} · {d.name_fr}"


class SchoolForm(_ScopedDirectorateForm):
    class Meta:
        model = School
        fields = ["directorate", "code", "name_fr", "name_ar", "is_public"]
        widgets = {"name_ar": forms.TextInput(attrs={"dir": "rtl", "lang": "ar"})}


class ExamCentreForm(_ScopedDirectorateForm):
    class Meta:
        model = ExamCentre
        fields = ["directorate", "code", "name_fr", "name_ar", "address", "capacity"]
        widgets = {"name_ar": forms.TextInput(attrs={"dir": "rtl", "lang": "ar"})}


class ExamSessionForm(forms.ModelForm):
    make_current = forms.BooleanField(
        label=_("Current session"),
        required=False,
        help_text=_("The session candidates and staff work in. Only one session is current."),
    )

    class Meta:
        model = ExamSession
        fields = ["code", "name", "year"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["make_current"].initial = bool(self.instance.pk and self.instance.is_current)


class SessionWindowForm(forms.ModelForm):
    """A calendar window; times are entered and shown in Africa/Casablanca time."""

    class Meta:
        model = SessionWindow
        fields = ["kind", "opens_at", "closes_at"]
        widgets = {"opens_at": _DATETIME_WIDGET, "closes_at": _DATETIME_WIDGET}
        help_texts = {
            "opens_at": _("Morocco time (Africa/Casablanca)."),
            "closes_at": _("Morocco time (Africa/Casablanca). Leave empty if it stays open."),
        }

    def __init__(self, *args: Any, session: ExamSession, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.session = session

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        taken = (
            SessionWindow.objects.filter(session_id=self.instance.session_id, kind=kind)
            .exclude(pk=self.instance.pk)
            .exists()
        )
        if taken:
            raise forms.ValidationError(
                _("This session already has a window for this service."), code="unique"
            )
        return kind


class TrackForm(forms.ModelForm):
    class Meta:
        model = Track
        fields = ["code", "name_fr", "name_ar"]
        widgets = {"name_ar": forms.TextInput(attrs={"dir": "rtl", "lang": "ar"})}


class TrackSubjectForm(forms.ModelForm):
    class Meta:
        model = TrackSubject
        fields = ["subject", "component", "coefficient"]
        widgets = {"coefficient": forms.NumberInput(attrs={"step": "0.5", "min": "0.5"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["subject"].queryset = Subject.objects.order_by("code")


TrackSubjectFormSet = inlineformset_factory(
    Track,
    TrackSubject,
    form=TrackSubjectForm,
    fields=["subject", "component", "coefficient"],
    extra=3,
    can_delete=True,
)

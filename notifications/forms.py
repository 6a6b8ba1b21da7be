from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Channel, Status


class DeliveryFilterForm(forms.Form):
    """Filters of a batch's list of notifications (GET). Failures by default."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *Status.choices],
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", _("All channels")), *Channel.choices],
    )

    def __init__(self, data=None, *args, **kwargs) -> None:
        if data is not None and "status" not in data:
            data = data.copy()
            data["status"] = Status.FAILED
        super().__init__(data, *args, **kwargs)

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {"status": Status.FAILED, "channel": ""}
        return {"status": self.cleaned_data["status"], "channel": self.cleaned_data["channel"]}

"""Ministry staff: schedule, follow and withdraw publications of results (views stay thin)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from identity.access import role_required
from identity.models import Role

from .models import Computation, Publication
from .publication import (
    PublicationError,
    failure_of,
    progress_of,
    publishable_computations,
    schedule_publication,
    state_of,
    withdraw_publication,
)
from .snapshot import settle

ministry_required = role_required(Role.MINISTRY)


class ComputationChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Computation) -> str:
        moment = timezone.localtime(obj.finished_at or obj.created_at)
        return _("#%(id)s · %(session)s · %(sitting)s · %(count)s results · %(date)s") % {
            "id": obj.pk,
            "session": obj.session.name,
            "sitting": obj.get_sitting_display(),
            "count": obj.total,
            "date": moment.strftime("%Y-%m-%d %H:%M"),
        }


class PublicationForm(forms.Form):
    computation = ComputationChoice(queryset=Computation.objects.none(), label=_("Computation"))
    publish_at = forms.DateTimeField(
        label=_("Publication moment (Morocco time)"),
        help_text=_("Candidates see the results from this moment on, all at once."),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        help_text=_("For a new version of published results, say what changed."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["computation"].queryset = publishable_computations()


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the withdrawal"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@ministry_required
def publication_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    for session_id in set(
        Publication.objects.filter(status=Publication.Status.READY).values_list(
            "session_id", flat=True
        )
    ):
        settle(session_id, now.timestamp())  # versions superseded since show as replaced
    publications = list(
        Publication.objects.select_related("session", "created_by", "base").order_by("-created_at")[
            :100
        ]
    )
    rows = [(p, state_of(p, now)) for p in publications]
    return render(request, "results/publications/list.html", {"rows": rows, "now": now})


@ministry_required
def publication_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PublicationForm(request.POST)
        if form.is_valid():
            try:
                publication = schedule_publication(
                    form.cleaned_data["computation"],
                    form.cleaned_data["publish_at"],
                    request.user,
                    form.cleaned_data["reason"],
                )
            except PublicationError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("The publication is being prepared. Nothing is visible before its moment."),
                )
                return redirect("publications:detail", publication.pk)
    else:
        form = PublicationForm(
            initial={"publish_at": timezone.localtime().replace(second=0, microsecond=0)}
        )
    return render(request, "results/publications/form.html", {"form": form})


@ministry_required
def publication_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session_id = get_object_or_404(Publication, pk=pk).session_id
    settle(session_id, timezone.now().timestamp())
    publication = get_object_or_404(
        Publication.objects.select_related(
            "session", "computation", "replaces", "base", "created_by", "withdrawn_by"
        ),
        pk=pk,
    )
    state = state_of(publication)
    return render(
        request,
        "results/publications/detail.html",
        {
            "publication": publication,
            "failure": failure_of(publication),
            "state": state,
            "progress": progress_of(publication),
            "total": publication.computation.total,
            "withdraw_form": WithdrawForm()
            if publication.status == Publication.Status.READY
            else None,
        },
    )


@ministry_required
@require_POST
def publication_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    publication = get_object_or_404(Publication.objects.select_related("session"), pk=pk)
    form = WithdrawForm(request.POST)
    if form.is_valid():
        try:
            withdraw_publication(publication, request.user, form.cleaned_data["reason"])
        except PublicationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, _("The publication is withdrawn: candidates no longer see it.")
            )
    else:
        messages.error(request, _("Say why the publication is withdrawn."))
    return redirect("publications:detail", publication.pk)

from django.shortcuts import redirect, render

from audit.models import AuditEntry
from candidates.models import Candidate
from identity.access import candidate_required

from .history_labels import action_label
from .services import service_cards


def home(request):
    user = request.user
    if not user.is_authenticated:
        return render(request, "portal/landing.html")
    if user.is_staff_member:
        return redirect("candidates:list")
    if user.is_superuser and not user.is_candidate:
        return redirect("admin:index")
    candidate = (
        Candidate.objects.filter(user=user)
        .select_related("session", "school", "track")
        .order_by("-session__year")
        .first()
    )
    session = candidate.session if candidate else None
    return render(
        request,
        "portal/home.html",
        {"candidate": candidate, "session": session, "services": service_cards(session)},
    )


@candidate_required
def history(request):
    entries = list(
        AuditEntry.objects.filter(candidate__user=request.user)
        # Marks reach the candidate through the published results, never before publication.
        .exclude(object_type="grade")
        .order_by("-sequence")
        .only("at", "action", "before", "after", "reason", "actor_label")[:200]
    )
    for entry in entries:
        entry.label = action_label(entry.action)
    return render(request, "portal/history.html", {"entries": entries})

"""What the candidate's home shows: each service of the mission, its state and its window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exams.models import ExamSession, SessionWindow, WindowKind, WindowState


@dataclass(frozen=True)
class ServiceCard:
    kind: str
    title: str
    description: str
    state: str
    state_label: str
    opens_at: datetime | None
    closes_at: datetime | None
    built: bool
    url: str = ""


# The candidate's services in the order of the mission (`built`: whether the service exists).
CANDIDATE_SERVICES = (
    (
        WindowKind.VERIFICATION,
        _("Verify my data"),
        _("Check the data on your file and report errors."),
        True,
    ),
    (
        WindowKind.CONVOCATION,
        _("Exam convocation"),
        _("Download your convocation once your data is verified."),
        True,
    ),
    (
        WindowKind.RESULTS,
        _("Bac results"),
        _("See your results as soon as they are published."),
        True,
    ),
    (
        WindowKind.COMPLAINTS,
        _("Complaints"),
        _("Report a material error in the grading of a national exam subject."),
        True,
    ),
    (WindowKind.SCHOLARSHIP, _("Scholarship"), _("Apply for a post-bac grant."), True),
    (
        WindowKind.DIPLOMA,
        _("Digital diploma"),
        _("Consult, download and share your diploma."),
        True,
    ),
)


# The page of each service that is built (URL names).
SERVICE_URLS = {
    WindowKind.VERIFICATION: "verification:mine",
    WindowKind.CONVOCATION: "convocations:mine",
    WindowKind.COMPLAINTS: "complaints:mine",
    WindowKind.SCHOLARSHIP: "scholarships:mine",
    WindowKind.DIPLOMA: "sharing:mine",
}


def service_cards(session: ExamSession | None, now: datetime | None = None) -> list[ServiceCard]:
    now = now or timezone.now()
    windows: dict[str, SessionWindow] = {}
    if session is not None:
        windows = {w.kind: w for w in session.windows.all()}
    cards = []
    for kind, title, description, built in CANDIDATE_SERVICES:
        window = windows.get(kind)
        state = window.state(now) if window else WindowState.NOT_SET
        if not built and state == WindowState.OPEN:
            # A service that does not exist yet must not look open to the candidate.
            state = WindowState.UPCOMING
        cards.append(
            ServiceCard(
                kind=kind,
                title=str(title),
                description=str(description),
                state=state,
                state_label=str(WindowState(state).label),
                opens_at=window.opens_at if window else None,
                closes_at=window.closes_at if window else None,
                built=built,
                url=reverse(SERVICE_URLS[kind]) if built and kind in SERVICE_URLS else "",
            )
        )
    return cards

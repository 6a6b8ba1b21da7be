"""Complaints (réclamations): filing, review with four eyes, propagation, oversight.

Views, the demo command and the benchmark call these functions; the models only hold state.

    file_complaint(candidate, subject, kind, comment, actor)     the candidate, in the window
    assign_complaint(complaint, reviewer, actor)                 academy staff
    attach_scan(complaint, upload, actor, address)               the answer sheet, encrypted
    propose_decision(complaint, actor, accept, finding, reason, corrected_mark)
    approve_correction(complaint, actor)                         a second reviewer: applies it
    return_correction(complaint, actor, note)                    a second reviewer disagrees

**The window.** A complaint is filed within the complaint window of the session. If the
session's calendar has a "complaints" window, it is that window (an open-ended window closes
COMPLAINT_WINDOW_DAYS after it opens). Otherwise the window derives from the publication
moment: it opens at the moment the results of the sitting were first made public (the earliest
full publication that is public and not withdrawn) and closes exactly COMPLAINT_WINDOW_DAYS
(default 3) × 24 hours later. Complaints about the catch-up sitting always use the catch-up
publication's moment (the calendar has one complaints window per session).

**Propagation.** An approved correction changes the grade (`results.services.set_grade`,
audited), recomputes the candidate's result with the grading engine and writes it into the
published computation (and any later finished computation of the whole session, which were
computed from the old mark), so that a later full publication, or the catch-up convocation,
keeps the correction; then `results.publication.republish_candidate` publishes a new version of
that one result, which notifies the candidate (results_updated) and sends
`results.signals.result_republished` for the diplomas and other services. All of it commits or
rolls back together. The computation's statistics are not recomputed (they describe the
computation as it ran).
"""

from __future__ import annotations

import csv
import datetime
import io
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from audit.services import Change, record_changes
from candidates import documents
from candidates.file_services import read_upload, rejection_message
from candidates.models import Candidate
from exams.models import (
    CandidateType,
    Component,
    ExamSession,
    SessionWindow,
    Subject,
    TrackSubject,
    WindowKind,
    WindowState,
)
from identity.models import Role, User
from results import grading
from results.grades import check_mark, format_mark
from results.models import Computation, ComputedResult, Grade, Publication, PublishedResult
from results.models import Sitting as ResultSitting

from .models import OPEN_STATUSES, Complaint, ErrorKind, ScanAccess, Status

NORMAL = ResultSitting.NORMAL
CATCH_UP = ResultSitting.CATCH_UP
COMMENT_MAX_LENGTH = 1000
TEXT_MAX_LENGTH = 2000
SCAN_MAX_BYTES_DEFAULT = 10 * 1024 * 1024
# Deadlines of each step, in hours (settings.COMPLAINT_DEADLINES overrides any of them):
# assignment counted from filing, the reviewer's decision from filing, the second approval
# from the proposal. The whole complaint is then decided within about a week.
DEFAULT_DEADLINES = {"assign": 24, "review": 96, "approve": 48}
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32


class ComplaintRefused(Exception):
    """The action is refused and nothing changed; `message` says why in the user's language."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _nothing_changed(message: str) -> str:
    nothing = _("Nothing was changed.")
    return f"{message} {nothing}"


# -- The window -------------------------------------------------------------------------------


def window_days() -> int:
    return int(getattr(settings, "COMPLAINT_WINDOW_DAYS", 3))


def _when(value: datetime.datetime) -> str:
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


@dataclass(frozen=True)
class ComplaintWindow:
    opens_at: datetime.datetime | None
    closes_at: datetime.datetime | None
    state: str

    @property
    def is_open(self) -> bool:
        return self.state == WindowState.OPEN

    def message(self) -> str:
        if self.state == WindowState.NOT_SET or self.opens_at is None:
            return _("Complaints open when the results are published.")
        if self.state == WindowState.UPCOMING:
            return _("Complaints open on %(date)s.") % {"date": _when(self.opens_at)}
        if self.state == WindowState.CLOSED:
            return _("The complaint window closed on %(date)s.") % {
                "date": _when(self.closes_at)  # type: ignore[arg-type]
            }
        return _("You can file a complaint until %(date)s.") % {
            "date": _when(self.closes_at)  # type: ignore[arg-type]
        }


def publication_moment(
    session: ExamSession, sitting: str, now: datetime.datetime | None = None
) -> datetime.datetime | None:
    """When the results of this sitting were first made public (None: not yet)."""
    now = now or timezone.now()
    return (
        Publication.objects.filter(
            session=session,
            sitting=sitting,
            kind=Publication.Kind.FULL,
            status__in=[Publication.Status.READY, Publication.Status.REPLACED],
            publish_at__lte=now,
        )
        .order_by("publish_at")
        .values_list("publish_at", flat=True)
        .first()
    )


def complaint_window(
    session: ExamSession, sitting: str = NORMAL, now: datetime.datetime | None = None
) -> ComplaintWindow:
    now = now or timezone.now()
    length = datetime.timedelta(days=window_days())
    calendar = None
    if sitting == NORMAL:
        calendar = SessionWindow.objects.filter(session=session, kind=WindowKind.COMPLAINTS).first()
    if calendar is not None:
        opens_at = calendar.opens_at
        closes_at = calendar.closes_at or opens_at + length
    else:
        opens_at = publication_moment(session, sitting, now)
        if opens_at is None:
            return ComplaintWindow(None, None, WindowState.NOT_SET)
        closes_at = opens_at + length
    if now < opens_at:
        state = WindowState.UPCOMING
    elif now >= closes_at:
        state = WindowState.CLOSED
    else:
        state = WindowState.OPEN
    return ComplaintWindow(opens_at, closes_at, state)


# -- What the candidate may complain about ----------------------------------------------------


def current_published_results(
    candidate: Candidate, now: datetime.datetime | None = None
) -> dict[str, PublishedResult]:
    """The candidate's results as candidates see them now, by sitting (the latest correction
    of the current full publication, if any). Two queries whatever the sittings."""
    now = now or timezone.now()
    current: dict[str, int] = {}
    for pk, sitting in (
        Publication.objects.filter(
            session_id=candidate.session_id,
            kind=Publication.Kind.FULL,
            status=Publication.Status.READY,
            publish_at__lte=now,
        )
        .order_by("-version")
        .values_list("pk", "sitting")
    ):
        current.setdefault(sitting, pk)
    if not current:
        return {}
    found: dict[str, PublishedResult] = {}
    rows = (
        PublishedResult.objects.filter(candidate=candidate)
        .filter(
            Q(publication_id__in=current.values())
            | Q(
                publication__base_id__in=current.values(),
                publication__status=Publication.Status.READY,
            )
        )
        .select_related("publication")
        .order_by("-publication__version")
    )
    for row in rows:
        publication = row.publication
        base_id = publication.base_id or publication.pk
        if current.get(publication.sitting) == base_id:
            found.setdefault(publication.sitting, row)
    return found


def current_published_result(
    candidate: Candidate, sitting: str, now: datetime.datetime | None = None
) -> PublishedResult | None:
    """The candidate's result of one sitting as candidates see it now."""
    return current_published_results(candidate, now).get(sitting)


def filing_sitting(candidate: Candidate, now: datetime.datetime | None = None) -> str:
    """The sitting a complaint is about: the catch-up once its results include the candidate."""
    return CATCH_UP if CATCH_UP in current_published_results(candidate, now) else NORMAL


@dataclass(frozen=True)
class SubjectLine:
    subject: Subject
    mark: Decimal
    complaint: Complaint | None


def complaint_subjects(candidate: Candidate, sitting: str) -> list[SubjectLine]:
    """The national-exam subjects of the candidate's track that have a mark in this sitting,
    with the complaint already filed about each, if any."""
    national = TrackSubject.objects.filter(
        track_id=candidate.track_id, component=Component.NATIONAL
    ).select_related("subject")
    marks = dict(
        Grade.objects.filter(
            candidate=candidate, component=Component.NATIONAL, sitting=sitting
        ).values_list("subject_id", "mark")
    )
    filed = {
        c.subject_id: c for c in Complaint.objects.filter(candidate=candidate, sitting=sitting)
    }
    return [
        SubjectLine(ts.subject, marks[ts.subject_id], filed.get(ts.subject_id))
        for ts in sorted(national, key=lambda t: t.subject.code)
        if ts.subject_id in marks
    ]


def _subject_name(subject: Subject) -> str:
    from django.utils.translation import get_language

    return subject.name_ar if (get_language() or "").startswith("ar") else subject.name_fr


def new_reference() -> str:
    return "REC-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))


def _academy_of(candidate: Candidate) -> int:
    return candidate.school.directorate.academy_id


# -- Filing -----------------------------------------------------------------------------------


def file_complaint(
    candidate: Candidate,
    subject: Subject,
    kind: str,
    comment: str,
    actor,
    now: datetime.datetime | None = None,
) -> Complaint:
    """File one complaint about `subject`; raises ComplaintRefused (nothing stored)."""
    now = now or timezone.now()
    comment = (comment or "").strip()
    if kind not in ErrorKind.values:
        raise ComplaintRefused(
            _nothing_changed(_("Choose the kind of material error.")), field="kind"
        )
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ComplaintRefused(
            _nothing_changed(
                _("The comment is too long: at most %(limit)s characters.")
                % {"limit": COMMENT_MAX_LENGTH}
            ),
            field="comment",
        )
    results = current_published_results(candidate, now)
    sitting = CATCH_UP if CATCH_UP in results else NORMAL
    window = complaint_window(candidate.session, sitting, now)
    if not window.is_open:
        raise ComplaintRefused(_nothing_changed(window.message()))
    published = results.get(sitting)
    if published is None:
        raise ComplaintRefused(
            _nothing_changed(_("You have no published result to file a complaint about."))
        )
    components = set(
        TrackSubject.objects.filter(track_id=candidate.track_id, subject=subject).values_list(
            "component", flat=True
        )
    )
    if Component.NATIONAL not in components:
        if components:
            message = _(
                "A complaint can only be about a national-exam subject: %(subject)s is a "
                "regional-exam or continuous-assessment subject of your track, whose marks are "
                "handled by your academy or your school."
            )
        else:
            message = _("%(subject)s is not a subject of your track.")
        raise ComplaintRefused(
            _nothing_changed(message % {"subject": _subject_name(subject)}), field="subject"
        )
    grade = Grade.objects.filter(
        candidate=candidate, subject=subject, component=Component.NATIONAL, sitting=sitting
    ).first()
    if grade is None:
        raise ComplaintRefused(
            _nothing_changed(
                _("There is no mark in %(subject)s on your result to complain about.")
                % {"subject": _subject_name(subject)}
            ),
            field="subject",
        )
    existing = Complaint.objects.filter(candidate=candidate, subject=subject, sitting=sitting)
    if existing.exists():
        raise ComplaintRefused(_duplicate_message(subject, existing.first()), field="subject")
    candidate_full = Candidate.objects.select_related("school__directorate").get(pk=candidate.pk)
    try:
        with transaction.atomic():
            complaint = Complaint.objects.create(
                reference=new_reference(),
                session_id=candidate.session_id,
                candidate=candidate,
                subject=subject,
                sitting=sitting,
                academy_id=_academy_of(candidate_full),
                exam_centre_id=candidate_full.exam_centre_id,
                kind=kind,
                comment=comment,
                original_mark=grade.mark,
                publication_version=published.publication.version,
                filed_at=now,
                filed_by=actor,
            )
            record_changes(
                actor,
                [
                    _change(
                        complaint,
                        "complaints.file",
                        {},
                        {
                            "status": Status.FILED,
                            "subject": subject.code,
                            "sitting": sitting,
                            "kind": kind,
                            "mark": format_mark(int(grade.mark * 100)),
                            "version": published.publication.version,
                        },
                        comment,
                    )
                ],
            )
    except IntegrityError:
        # Two submissions at once: the constraint keeps one.
        raise ComplaintRefused(
            _duplicate_message(subject, existing.first()), field="subject"
        ) from None
    return complaint


def _duplicate_message(subject: Subject, complaint: Complaint | None) -> str:
    return _nothing_changed(
        _("You have already filed a complaint about %(subject)s (reference %(reference)s).")
        % {
            "subject": _subject_name(subject),
            "reference": complaint.reference if complaint else "",
        }
    )


def _change(
    complaint: Complaint, action: str, before: dict, after: dict, reason: str = ""
) -> Change:
    return Change(
        action=action,
        object_type="complaint",
        object_id=complaint.reference,
        before=before,
        after=after,
        reason=reason,
        candidate_id=complaint.candidate_id,
    )


def candidate_complaints(candidate: Candidate) -> QuerySet:
    return Complaint.objects.filter(candidate=candidate).select_related("subject")


# -- Staff scope ------------------------------------------------------------------------------


def complaints_in_scope(user) -> QuerySet:
    """Complaints a staff member may see: their academy's, or all for the ministry."""
    base = Complaint.objects.select_related("subject", "candidate", "exam_centre", "academy")
    if not getattr(user, "is_authenticated", False):
        return base.none()
    if user.role == Role.MINISTRY:
        return base
    if user.role == Role.ACADEMY and user.academy_id:
        return base.filter(academy_id=user.academy_id)
    return base.none()


def can_decide(actor, complaint: Complaint) -> bool:
    return (
        actor is not None
        and getattr(actor, "role", None) == Role.ACADEMY
        and actor.academy_id == complaint.academy_id
    )


def _require_decider(complaint: Complaint, actor) -> None:
    if not can_decide(actor, complaint):
        raise ComplaintRefused(
            _nothing_changed(
                _("Only the staff of the candidate's academy can review and decide this complaint.")
            )
        )


def _locked(complaint: Complaint) -> Complaint:
    return Complaint.objects.select_for_update().get(pk=complaint.pk)


def _require_open(complaint: Complaint, *allowed: str) -> None:
    if complaint.status in allowed:
        return
    if complaint.status in (Status.REJECTED, Status.ACCEPTED):
        message = _("This complaint has already been decided.")
    elif complaint.status == Status.AWAITING_APPROVAL:
        message = _("A correction of this complaint awaits a second reviewer's approval.")
    else:
        message = _("A reviewer must first propose a correction.")
    raise ComplaintRefused(_nothing_changed(message))


def reviewers_for(complaint: Complaint) -> QuerySet:
    return User.objects.filter(
        role=Role.ACADEMY, academy_id=complaint.academy_id, is_active=True
    ).order_by("username")


def assign_complaint(complaint: Complaint, reviewer: User, actor) -> Complaint:
    _require_decider(complaint, actor)
    if not reviewers_for(complaint).filter(pk=getattr(reviewer, "pk", None)).exists():
        raise ComplaintRefused(
            _nothing_changed(_("The reviewer must be a member of the candidate's academy staff.")),
            field="reviewer",
        )
    now = timezone.now()
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_open(complaint, Status.FILED, Status.IN_REVIEW)
        before = {"status": complaint.status, "assigned_to": _label(complaint.assigned_to)}
        complaint.assigned_to = reviewer
        complaint.assigned_at = now
        complaint.status = Status.IN_REVIEW
        complaint.save(update_fields=["assigned_to", "assigned_at", "status"])
        record_changes(
            actor,
            [
                _change(
                    complaint,
                    "complaints.assign",
                    before,
                    {"status": complaint.status, "assigned_to": _label(reviewer)},
                )
            ],
        )
    return complaint


def _label(user) -> str:
    return user.get_username() if user is not None else ""


# -- The answer sheet -------------------------------------------------------------------------


class ScanUnavailable(Exception):
    pass


def scan_max_bytes() -> int:
    return int(getattr(settings, "COMPLAINT_SCAN_MAX_BYTES", SCAN_MAX_BYTES_DEFAULT))


def attach_scan(complaint: Complaint, upload: IO[bytes], actor, address: str | None) -> Complaint:
    """Check, encrypt and store the scan of the answer sheet (replacing an earlier one)."""
    _require_decider(complaint, actor)
    _require_open(complaint, Status.FILED, Status.IN_REVIEW, Status.AWAITING_APPROVAL)
    limit = scan_max_bytes()
    try:
        data = read_upload(upload, limit)
        content_type = documents.validate_document(
            data, limit, getattr(settings, "CNIE_UPLOAD_MAX_PIXELS", documents.DEFAULT_MAX_PIXELS)
        )
    except documents.DocumentRejected as rejected:
        raise ComplaintRefused(_nothing_changed(rejection_message(rejected)), "scan") from None
    digest = documents.sha256_hex(data)
    token = documents.encrypt(data, settings.DOCUMENT_KEYS)
    name = default_storage.save(f"complaints/{secrets.token_hex(24)}.bin", ContentFile(token))
    try:
        with transaction.atomic():
            complaint = _locked(complaint)
            _require_open(complaint, Status.FILED, Status.IN_REVIEW, Status.AWAITING_APPROVAL)
            previous_name, previous_digest = complaint.scan_file, complaint.scan_sha256
            complaint.scan_file = name
            complaint.scan_content_type = content_type
            complaint.scan_size = len(data)
            complaint.scan_sha256 = digest
            complaint.scan_uploaded_at = timezone.now()
            complaint.save(
                update_fields=[
                    "scan_file",
                    "scan_content_type",
                    "scan_size",
                    "scan_sha256",
                    "scan_uploaded_at",
                ]
            )
            ScanAccess.objects.create(
                complaint=complaint,
                user=actor,
                user_label=_label(actor),
                action=ScanAccess.Action.UPLOAD,
                address=address,
            )
            record_changes(
                actor,
                [
                    _change(
                        complaint,
                        "complaints.scan",
                        {"sha256": previous_digest} if previous_digest else {},
                        {"sha256": digest, "content_type": content_type, "size": len(data)},
                        "answer sheet scan attached",
                    )
                ],
            )
            if previous_name:
                transaction.on_commit(lambda: default_storage.delete(previous_name))
    except BaseException:
        default_storage.delete(name)
        raise
    return complaint


def read_scan(complaint: Complaint, viewer, address: str | None) -> bytes:
    """Decrypt the scan and log the view. The caller has checked that the viewer may see it."""
    if not complaint.scan_file:
        raise ScanUnavailable("no scan")
    try:
        with default_storage.open(complaint.scan_file, "rb") as handle:
            data = documents.decrypt(handle.read(), settings.DOCUMENT_KEYS)
    except (OSError, documents.InvalidToken) as exc:
        raise ScanUnavailable("the stored scan cannot be read") from exc
    if documents.sha256_hex(data) != complaint.scan_sha256:
        raise ScanUnavailable("the stored scan does not match its hash")
    ScanAccess.objects.create(
        complaint=complaint,
        user=viewer,
        user_label=_label(viewer),
        action=ScanAccess.Action.VIEW,
        address=address,
    )
    return data


# -- Deciding ---------------------------------------------------------------------------------


def _required_text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ComplaintRefused(_nothing_changed(message), field=field)
    if len(value) > TEXT_MAX_LENGTH:
        raise ComplaintRefused(
            _nothing_changed(
                _("This text is too long: at most %(limit)s characters.")
                % {"limit": TEXT_MAX_LENGTH}
            ),
            field=field,
        )
    return value


def _current_mark(complaint: Complaint) -> Decimal | None:
    return (
        Grade.objects.filter(
            candidate_id=complaint.candidate_id,
            subject_id=complaint.subject_id,
            component=Component.NATIONAL,
            sitting=complaint.sitting,
        )
        .values_list("mark", flat=True)
        .first()
    )


def check_corrected_mark(value: Any) -> Decimal:
    """A corrected mark /20 with at most two decimals, or ComplaintRefused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ComplaintRefused(
            _nothing_changed(_("Enter the corrected mark.")), field="corrected_mark"
        )
    checked = check_mark(value)
    if not isinstance(checked, int):
        raise ComplaintRefused(
            _nothing_changed(
                _(
                    "The corrected mark %(value)s is not a mark between 0 and 20 with at most "
                    "two decimals."
                )
                % {"value": str(value)}
            ),
            field="corrected_mark",
        )
    return Decimal(checked).scaleb(-2)


def _settle(complaint: Complaint, now: datetime.datetime) -> None:
    complaint.decided_at = now
    complaint.decision_seconds = max(0, int((now - complaint.filed_at).total_seconds()))


def propose_decision(
    complaint: Complaint,
    actor,
    accept: bool,
    finding: str,
    reason: str,
    corrected_mark: Any = None,
) -> Complaint:
    """The reviewer's decision. A rejection is final at once; a corrected mark waits for a
    second reviewer's approval (four eyes)."""
    _require_decider(complaint, actor)
    finding = _required_text(finding, "finding", _("Record what you found on the answer sheet."))
    reason = _required_text(
        reason, "reason", _("Write the reason the candidate will read with the decision.")
    )
    mark = check_corrected_mark(corrected_mark) if accept else None
    now = timezone.now()
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_open(complaint, Status.FILED, Status.IN_REVIEW)
        before = {"status": complaint.status}
        complaint.reviewer = actor
        complaint.finding = finding
        complaint.decision_reason = reason
        complaint.return_note = ""
        if complaint.assigned_to_id is None:
            complaint.assigned_to, complaint.assigned_at = actor, now
        if accept:
            current = _current_mark(complaint)
            if current is not None and current == mark:
                raise ComplaintRefused(
                    _nothing_changed(
                        _(
                            "The corrected mark is the mark already recorded: reject the "
                            "complaint, or enter the mark it should be."
                        )
                    ),
                    field="corrected_mark",
                )
            complaint.status = Status.AWAITING_APPROVAL
            complaint.corrected_mark = mark
            complaint.proposed_at = now
            after = {
                "status": complaint.status,
                "corrected_mark": format_mark(int(mark * 100)),  # type: ignore[operator]
                "finding": finding,
            }
            action = "complaints.propose"
        else:
            complaint.status = Status.REJECTED
            complaint.corrected_mark = None
            _settle(complaint, now)
            after = {"status": complaint.status, "finding": finding}
            action = "complaints.reject"
        complaint.save()
        record_changes(actor, [_change(complaint, action, before, after, reason)])
        if not accept:
            _notify_decision(complaint)
    return complaint


def return_correction(complaint: Complaint, actor, note: str) -> Complaint:
    """The second reviewer does not approve: the complaint goes back to review."""
    _require_decider(complaint, actor)
    note = _required_text(note, "note", _("Say why the correction is not approved."))
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_open(complaint, Status.AWAITING_APPROVAL)
        before = {
            "status": complaint.status,
            "corrected_mark": format_mark(int(complaint.corrected_mark * 100)),  # type: ignore[operator]
        }
        complaint.status = Status.IN_REVIEW
        complaint.corrected_mark = None
        complaint.proposed_at = None
        complaint.return_note = note
        complaint.save(update_fields=["status", "corrected_mark", "proposed_at", "return_note"])
        record_changes(
            actor,
            [_change(complaint, "complaints.return", before, {"status": Status.IN_REVIEW}, note)],
        )
    return complaint


def approve_correction(complaint: Complaint, actor) -> Complaint:
    """The second reviewer approves: the grade changes, the result is recomputed and published
    again, the candidate is told. Everything or nothing."""
    from results.publication import PublicationError, republish_candidate
    from results.services import GradeError, set_grade

    _require_decider(complaint, actor)
    now = timezone.now()
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_open(complaint, Status.AWAITING_APPROVAL)
        if complaint.reviewer_id == actor.pk:
            raise ComplaintRefused(
                _nothing_changed(
                    _(
                        "A corrected mark needs the approval of a second reviewer: you proposed "
                        "this correction, so another member of the academy staff must approve it."
                    )
                )
            )
        candidate = Candidate.objects.select_related("session", "track").get(
            pk=complaint.candidate_id
        )
        subject = Subject.objects.get(pk=complaint.subject_id)
        mark: Decimal = complaint.corrected_mark  # type: ignore[assignment]
        before_mark = _current_mark(complaint)
        reason = _("Complaint %(reference)s accepted: %(subject)s national mark corrected.") % {
            "reference": complaint.reference,
            "subject": subject.code,
        }
        try:
            set_grade(
                candidate, subject, Component.NATIONAL, mark, reason, actor, complaint.sitting
            )
            computed = recompute_candidate(candidate, complaint.sitting)
            publication = republish_candidate(candidate, computed, reason, actor)
        except GradeError as error:
            raise ComplaintRefused(_nothing_changed(error.message)) from None
        except PublicationError as error:
            raise ComplaintRefused(_nothing_changed(str(error))) from None
        complaint.status = Status.ACCEPTED
        complaint.approver = actor
        complaint.mark_change = mark - (before_mark if before_mark is not None else mark)
        complaint.new_publication_version = publication.version
        _settle(complaint, now)
        complaint.save()
        record_changes(
            actor,
            [
                _change(
                    complaint,
                    "complaints.accept",
                    {
                        "status": Status.AWAITING_APPROVAL,
                        "mark": "" if before_mark is None else format_mark(int(before_mark * 100)),
                    },
                    {
                        "status": Status.ACCEPTED,
                        "mark": format_mark(int(mark * 100)),
                        "reviewer": _label(complaint.reviewer),
                        "approver": _label(actor),
                        "version": publication.version,
                    },
                    complaint.decision_reason,
                )
            ],
        )
        _notify_decision(complaint)
    return complaint


def _notify_decision(complaint: Complaint) -> None:
    from notifications.services import notify_candidate, site_url

    url = site_url() + reverse("complaints:detail", args=[complaint.reference])
    notify_candidate(
        complaint.candidate, "complaint_decided", f"complaint.{complaint.reference}", {"url": url}
    )


# -- Recomputing one result -------------------------------------------------------------------

_COMPONENT_ORDER = {"continuous": 0, "national": 1, "regional": 2}  # as results.services sorts


def _scheme(candidate: Candidate) -> grading.Scheme:
    from results.services import grading_config

    entries = sorted(
        TrackSubject.objects.filter(track_id=candidate.track_id).values_list(
            "subject_id", "subject__code", "component", "coefficient"
        ),
        key=lambda e: (e[0], _COMPONENT_ORDER[e[2]]),
    )
    return grading.Scheme(
        [grading.SubjectRule(code, component, coef) for _sid, code, component, coef in entries],
        grading_config(candidate.session),
    )


def evaluate_candidate(candidate: Candidate, sitting: str) -> tuple[grading.Outcome, int]:
    """The grading engine's outcome for one candidate from their current grades, and the
    number of decimals of its units."""
    scheme = _scheme(candidate)
    first: list[int | None] = [None] * len(scheme.rules)
    second: list[int | None] = [None] * len(scheme.rules)
    for code, component, grade_sitting, mark in Grade.objects.filter(
        candidate=candidate
    ).values_list("subject__code", "component", "sitting", "mark"):
        position = scheme.index.get((code, component))
        if position is None:
            continue
        target = second if grade_sitting == CATCH_UP else first
        target[position] = int(mark * 100)
    free = candidate.candidate_type == CandidateType.FREE
    if sitting == CATCH_UP:
        outcome = scheme.evaluate_catch_up(first, second, free)
    else:
        outcome = scheme.evaluate(first, free)
    return outcome, scheme.config.decimals


def recompute_candidate(candidate: Candidate, sitting: str) -> ComputedResult:
    """Recompute the candidate's result and write it into the computation of the public
    results of this sitting (and later finished computations of the whole session); returns
    the published computation's row, ready for `republish_candidate`."""
    from results.publication import current_publication
    from results.services import kept_marks

    base = current_publication(candidate.session, sitting)
    if base is None:
        from results.publication import PublicationError

        raise PublicationError(_("There is no published result to correct."))
    outcome, decimals = evaluate_candidate(candidate, sitting)

    def value(units: int | None) -> Decimal | None:
        if units is None:
            return None
        return Decimal(f"{Decimal(units).scaleb(-decimals):.{decimals}f}")

    fields = {
        "continuous_average": value(outcome.continuous),
        "regional_average": value(outcome.regional),
        "national_average": value(outcome.national),
        "general_average": value(outcome.general),
        "decision": outcome.decision,
        "mention": outcome.mention,
        "reason": outcome.reason,
        # The corrected marks with the averages they give: what a publication shows.
        **kept_marks(candidate.pk, sitting),
    }
    later = Computation.objects.filter(
        session=candidate.session,
        sitting=sitting,
        academy__isnull=True,
        status=Computation.Status.DONE,
        pk__gt=base.computation_id,
    ).values_list("pk", flat=True)
    ComputedResult.objects.filter(
        candidate=candidate, computation_id__in=[base.computation_id, *later]
    ).update(**fields)
    row, _created = ComputedResult.objects.update_or_create(
        computation_id=base.computation_id, candidate=candidate, defaults=fields
    )
    return row


# -- Deadlines --------------------------------------------------------------------------------


def deadlines() -> dict[str, datetime.timedelta]:
    hours = {**DEFAULT_DEADLINES, **(getattr(settings, "COMPLAINT_DEADLINES", None) or {})}
    return {step: datetime.timedelta(hours=float(value)) for step, value in hours.items()}


def step_deadline(complaint: Complaint) -> datetime.datetime | None:
    """When the current step of an open complaint is due (None once decided)."""
    limits = deadlines()
    if complaint.status == Status.FILED:
        return complaint.filed_at + limits["assign"]
    if complaint.status == Status.IN_REVIEW:
        return complaint.filed_at + limits["review"]
    if complaint.status == Status.AWAITING_APPROVAL and complaint.proposed_at:
        return complaint.proposed_at + limits["approve"]
    return None


def overdue_condition(now: datetime.datetime | None = None) -> Q:
    now = now or timezone.now()
    limits = deadlines()
    return (
        Q(status=Status.FILED, filed_at__lt=now - limits["assign"])
        | Q(status=Status.IN_REVIEW, filed_at__lt=now - limits["review"])
        | Q(status=Status.AWAITING_APPROVAL, proposed_at__lt=now - limits["approve"])
    )


def overdue(queryset: QuerySet, now: datetime.datetime | None = None) -> QuerySet:
    return queryset.filter(overdue_condition(now))


# -- The queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    subject: int | None = None
    centre: int | None = None
    status: str = ""
    mine: bool = False


def queue(user, filters: QueueFilters) -> QuerySet:
    qs = complaints_in_scope(user)
    if filters.status:
        qs = qs.filter(status=filters.status)
    else:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if filters.subject:
        qs = qs.filter(subject_id=filters.subject)
    if filters.centre:
        qs = qs.filter(exam_centre_id=filters.centre)
    if filters.mine:
        qs = qs.filter(Q(assigned_to=user) | Q(status=Status.AWAITING_APPROVAL))
    return qs.order_by("filed_at", "pk")


def queue_summary(user) -> list[dict[str, Any]]:
    """Open complaints counted by subject and exam centre."""
    return list(
        complaints_in_scope(user)
        .filter(status__in=OPEN_STATUSES)
        .values(
            "subject_id",
            "subject__code",
            "subject__name_fr",
            "subject__name_ar",
            "exam_centre_id",
            "exam_centre__code",
            "exam_centre__name_fr",
        )
        .annotate(count=Count("pk"))
        .order_by("subject__code", "exam_centre__code")
    )


# -- Oversight --------------------------------------------------------------------------------

GROUPINGS = {
    "academy": ("academy__code", "academy__name_fr", "academy__name_ar"),
    "subject": ("subject__code", "subject__name_fr", "subject__name_ar"),
    "centre": ("exam_centre__code", "exam_centre__name_fr", "exam_centre__name_ar"),
}


@dataclass(frozen=True)
class StatRow:
    keys: tuple[str, ...]
    names: tuple[str, ...]
    filed: int
    decided: int
    accepted: int
    mean_hours: Decimal | None
    changed: int
    mean_change: Decimal | None
    max_change: Decimal | None

    @property
    def accepted_share(self) -> Decimal | None:
        if not self.decided:
            return None
        return (Decimal(100 * self.accepted) / self.decided).quantize(Decimal("0.1"))


def statistics(queryset: QuerySet, groups: Sequence[str]) -> list[StatRow]:
    """Filed, decided, accepted, mean time to decision, marks changed (count, mean, max) by
    the given groupings (academy, subject, centre)."""
    fields: list[str] = []
    for group in groups:
        fields.extend(GROUPINGS[group])
    rows = (
        queryset.order_by()
        .values(*fields)
        .annotate(
            filed=Count("pk"),
            decided=Count("pk", filter=Q(status__in=[Status.ACCEPTED, Status.REJECTED])),
            accepted=Count("pk", filter=Q(status=Status.ACCEPTED)),
            mean_seconds=Avg("decision_seconds"),
            changed=Count("pk", filter=Q(mark_change__isnull=False) & ~Q(mark_change=0)),
            mean_change=Avg("mark_change"),
            max_change=Max("mark_change"),
        )
        .order_by(*fields)
    )
    out = []
    for row in rows:
        keys = tuple(row[GROUPINGS[g][0]] or "—" for g in groups)
        names = tuple(row[GROUPINGS[g][1]] or "" for g in groups)
        seconds = row["mean_seconds"]
        mean_change = row["mean_change"]
        out.append(
            StatRow(
                keys,
                names,
                row["filed"],
                row["decided"],
                row["accepted"],
                None if seconds is None else (Decimal(seconds) / 3600).quantize(Decimal("0.1")),
                row["changed"],
                None if mean_change is None else Decimal(mean_change).quantize(Decimal("0.01")),
                row["max_change"],
            )
        )
    return out


EXPORT_COLUMNS = (
    "academy_code",
    "academy_name",
    "subject_code",
    "subject_name",
    "exam_centre_code",
    "exam_centre_name",
    "filed",
    "decided",
    "accepted",
    "accepted_share_percent",
    "mean_hours_to_decision",
    "marks_changed",
    "mean_mark_change",
    "max_mark_change",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must never run a cell as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def export_csv(queryset: QuerySet) -> str:
    """The statistics by academy, subject and exam centre, one row each, for the ministry."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in statistics(queryset, ("academy", "subject", "centre")):
        writer.writerow(
            [
                _cell(v)
                for v in (
                    row.keys[0],
                    row.names[0],
                    row.keys[1],
                    row.names[1],
                    row.keys[2],
                    row.names[2],
                    row.filed,
                    row.decided,
                    row.accepted,
                    row.accepted_share,
                    row.mean_hours,
                    row.changed,
                    row.mean_change,
                    row.max_change,
                )
            ]
        )
    return buffer.getvalue()


def history(complaint: Complaint) -> Iterable:
    """The audit entries of a complaint, oldest first (staff page)."""
    from audit.models import AuditEntry

    return AuditEntry.objects.filter(
        object_type="complaint", object_id=complaint.reference
    ).order_by("sequence")

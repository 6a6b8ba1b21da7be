"""Scholarship rules: the programme's versions, the candidate's application from draft to
decision, the re-check when results are final, the commission's checks, ranking, decisions
and appeals, the social-register import, exports and statistics.

Views, commands and signal receivers call these functions; each state change is audited
(audit.services.record_changes) in the same transaction, and each status change the candidate
should know about is notified (kind "scholarship_status").
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import Change, record_changes
from candidates import documents
from candidates.file_services import read_upload
from candidates.models import Candidate
from exams.models import ExamSession, SessionWindow, WindowKind
from identity.models import Role

from . import eligibility, register, scoring
from .models import (
    AppealStatus,
    Application,
    ApplicationDocument,
    CommissionMember,
    Decision,
    DocumentKind,
    HouseholdMember,
    Programme,
    ProgrammeVersion,
    SocialRegisterEntry,
    Status,
    StatusEvent,
)

logger = logging.getLogger(__name__)

STEPS = ("identity", "household", "incomes", "registers", "studies", "documents")
OBJECT = "scholarships.application"


class ScholarshipRefused(Exception):
    """A request refused with a message for the person; `field` names the form field at fault;
    `reasons` lists several sentences (eligibility)."""

    def __init__(self, message: str, field: str | None = None, reasons: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reasons = list(reasons)


# -- Messages ---------------------------------------------------------------------------------


def reason_message(code: str, version: ProgrammeVersion | None = None) -> str:
    """A sentence for an eligibility reason code."""
    limit = version.age_limit if version else 26
    messages = {
        eligibility.Reason.NO_CNIE: _(
            "Your file has no CNIE number: a scholarship needs one. Ask your school to add it."
        ),
        eligibility.Reason.NATIONALITY: _(
            "The scholarship is open to Moroccan nationals only, according to your file."
        ),
        eligibility.Reason.AGE: _(
            "You must be under %(limit)s on the date of the bac; your birth date in your file "
            "makes you %(limit)s or older."
        )
        % {"limit": limit},
        eligibility.Reason.NOT_THIS_YEAR: _(
            "The scholarship is for candidates who sit the bac this year."
        ),
        eligibility.Reason.NOT_PUBLIC: _(
            "The scholarship is only for studies in a public institution."
        ),
        eligibility.Reason.EMPLOYED: _("The scholarship is not open to people in paid employment."),
        eligibility.Reason.NO_RNP: _(
            "Give your identifier in the national population register (RNP)."
        ),
        eligibility.Reason.NO_RSU: _(
            "Give your household's identifier and index in the unified social register (RSU)."
        ),
        eligibility.Reason.RSU_INDEX: _(
            "Your household's RSU index is above the threshold of the programme."
        ),
        eligibility.Reason.MISSING_DOCUMENT: _("A required document is missing."),
        eligibility.Reason.NOT_ADMITTED: _(
            "You did not obtain the bac this year: the scholarship is only for new bacheliers."
        ),
    }
    return str(messages.get(code, code))


def document_rejection_message(error: documents.DocumentRejected) -> str:
    if error.code == "too_large":
        limit = int(error.params["max_bytes"]) / (1024 * 1024)
        return _("The file is larger than %(limit)s MB.") % {"limit": f"{limit:g}"}
    if error.code in ("unsupported_type", "empty"):
        return _("Only a PDF, a JPEG or a PNG file is accepted. This file is none of these.")
    if error.code.startswith("pdf_"):
        return _("This PDF cannot be accepted (protected, damaged or with active content).")
    return _("The image is damaged or too large to be opened.")


# -- Programme and its versions ---------------------------------------------------------------

VERSION_FIELDS = (
    "opens_at",
    "closes_at",
    "bac_date",
    "full_amount",
    "half_amount",
    "nationality",
    "age_limit",
    "require_bac_of_year",
    "require_public_institution",
    "require_no_employment",
    "require_rnp",
    "require_rsu",
    "rsu_threshold",
    "full_grant_max_index",
    "income_ceiling",
    "required_documents",
    "weights",
    "budget_grants",
    "budget_amount",
    "appeal_days",
    "max_document_bytes",
)


def _plain(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def version_values(version: ProgrammeVersion | None) -> dict[str, Any]:
    if version is None:
        return {}
    return {name: getattr(version, name) for name in VERSION_FIELDS}


def current_programme(session: ExamSession | None = None) -> Programme | None:
    session = session or ExamSession.current()
    if session is None:
        return None
    return Programme.objects.filter(session=session).first()


def programme_for(candidate: Candidate) -> Programme | None:
    return Programme.objects.filter(session_id=candidate.session_id).first()


def save_version(
    programme: Programme, actor, values: dict[str, Any], reason: str = ""
) -> ProgrammeVersion:
    """A new version of the programme's configuration (the old ones stay, immutable)."""
    problems = scoring.check_weights(values.get("weights") or {})
    if problems:
        raise ScholarshipRefused(_("The scoring weights are not valid."), "weights")
    if values["closes_at"] <= values["opens_at"]:
        raise ScholarshipRefused(_("The window must close after it opens."), "closes_at")
    if not values.get("budget_grants") and not values.get("budget_amount"):
        raise ScholarshipRefused(
            _("Give a budget: a number of grants, a total amount, or both."), "budget_grants"
        )
    unknown = [c for c in values.get("required_documents", []) if c not in DocumentKind.values]
    if unknown:
        raise ScholarshipRefused(_("Unknown document kind."), "required_documents")
    with transaction.atomic():
        Programme.objects.select_for_update().filter(pk=programme.pk).first()
        previous = programme.current_version()
        number = (previous.number if previous else 0) + 1
        version = ProgrammeVersion.objects.create(
            programme=programme,
            number=number,
            reason=reason,
            created_by=actor,
            **{k: values[k] for k in VERSION_FIELDS if k in values},
        )
        version.refresh_from_db()  # stored values (e.g. decimals at their scale) are audited
        before = {k: _plain(v) for k, v in version_values(previous).items()}
        after = {k: _plain(v) for k, v in version_values(version).items()}
        record_changes(
            actor,
            [
                Change(
                    action="scholarships.programme_version",
                    object_type="scholarships.programme",
                    object_id=str(programme.pk),
                    before={k: v for k, v in before.items() if after.get(k) != v},
                    after={k: v for k, v in after.items() if before.get(k) != v}
                    | {"version": number},
                    reason=reason,
                )
            ],
        )
    return version


def save_programme(
    session: ExamSession, actor, values: dict[str, Any], reason: str = ""
) -> ProgrammeVersion:
    """A new version of the session's programme, creating the programme on its first save
    (nothing is created if the version is refused)."""
    with transaction.atomic():
        programme, _created = Programme.objects.get_or_create(session=session)
        return save_version(programme, actor, values, reason)


def default_values(session: ExamSession, now: _dt.datetime | None = None) -> dict[str, Any]:
    """The 2025 rules, with the session's scholarship window when the calendar has one."""
    now = now or timezone.now()
    window = SessionWindow.objects.filter(session=session, kind=WindowKind.SCHOLARSHIP).first()
    opens = window.opens_at if window else now - _dt.timedelta(days=1)
    closes = window.closes_at if window and window.closes_at else now + _dt.timedelta(days=60)
    return {
        "opens_at": opens,
        "closes_at": closes,
        "bac_date": _dt.date(session.year, 6, 1),
        "full_amount": Decimal("6334"),
        "half_amount": Decimal("3167"),
        "nationality": "MAR",
        "age_limit": 26,
        "require_bac_of_year": True,
        "require_public_institution": True,
        "require_no_employment": True,
        "require_rnp": True,
        "require_rsu": True,
        "rsu_threshold": Decimal("9.3264284"),
        "full_grant_max_index": Decimal("8.5"),
        "income_ceiling": Decimal("30000"),
        "required_documents": ["income_certificate", "rsu_certificate"],
        "weights": dict(scoring.DEFAULT_WEIGHTS),
        "budget_grants": 1000,
        "budget_amount": None,
        "appeal_days": 10,
        "max_document_bytes": 5 * 1024 * 1024,
    }


def create_programme(
    session: ExamSession, actor, values: dict[str, Any] | None = None
) -> Programme:
    """The session's programme with its first version (returns the existing one if any)."""
    programme, created = Programme.objects.get_or_create(session=session)
    if created or programme.current_version() is None:
        save_version(programme, actor, values or default_values(session), _("Programme created"))
    return programme


@dataclass(frozen=True)
class Window:
    state: str  # upcoming, open, closed, not_set
    opens_at: _dt.datetime | None
    closes_at: _dt.datetime | None

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def message(self) -> str:
        fmt = "%d/%m/%Y %H:%M"
        tz = timezone.get_default_timezone()
        if self.state == "not_set":
            return _("The scholarship programme of this year is not open yet.")
        opens = timezone.localtime(self.opens_at, tz).strftime(fmt)
        closes = timezone.localtime(self.closes_at, tz).strftime(fmt)
        if self.state == "upcoming":
            return _("Applications open on %(date)s (Morocco time).") % {"date": opens}
        if self.state == "closed":
            return _("Applications closed on %(date)s (Morocco time).") % {"date": closes}
        return _("Applications are open until %(date)s (Morocco time).") % {"date": closes}


def window_of(version: ProgrammeVersion | None, now: _dt.datetime | None = None) -> Window:
    if version is None:
        return Window("not_set", None, None)
    now = now or timezone.now()
    if now < version.opens_at:
        state = "upcoming"
    elif now >= version.closes_at:
        state = "closed"
    else:
        state = "open"
    return Window(state, version.opens_at, version.closes_at)


# -- The candidate's application --------------------------------------------------------------


def _audit(actor, application: Application, action: str, before, after, reason: str = "") -> None:
    record_changes(
        actor,
        [
            Change(
                action=action,
                object_type=OBJECT,
                object_id=str(application.pk),
                before={k: _plain(v) for k, v in before.items()},
                after={k: _plain(v) for k, v in after.items()},
                reason=reason,
                candidate_id=application.candidate_id,
            )
        ],
    )


def _event(application: Application, note: str = "", notify: bool = True) -> StatusEvent:
    event = StatusEvent.objects.create(
        application=application,
        status=application.status,
        decision=application.decision,
        appeal_status=application.appeal_status,
        note=note[:500],
    )
    if notify:
        from notifications.services import notify_candidate, site_url

        notify_candidate(
            application.candidate,
            "scholarship_status",
            f"scholarship.{application.pk}.{event.pk}",
            {"url": site_url() + reverse("scholarships:mine")},
        )
    return event


def application_of(candidate: Candidate) -> Application | None:
    programme = programme_for(candidate)
    if programme is None:
        return None
    return Application.objects.filter(programme=programme, candidate=candidate).first()


def _require_cnie(candidate: Candidate) -> None:
    if not (candidate.cnie_number or "").strip():
        raise ScholarshipRefused(reason_message(eligibility.Reason.NO_CNIE))


def _require_open(version: ProgrammeVersion | None, now: _dt.datetime | None) -> None:
    window = window_of(version, now)
    if not window.is_open:
        raise ScholarshipRefused(window.message() + " " + _("Nothing was changed."))


def start_application(candidate: Candidate, actor, now: _dt.datetime | None = None) -> Application:
    """The candidate's draft, created on first call and returned on the next ones (another
    device resumes the same draft: it lives in the database). Refused without a CNIE, outside
    the window, or when an application was already submitted."""
    _require_cnie(candidate)
    programme = programme_for(candidate)
    if programme is None:
        raise ScholarshipRefused(_("The scholarship programme of this year is not open yet."))
    _require_open(programme.current_version(), now)
    with transaction.atomic():
        Candidate.objects.select_for_update().filter(pk=candidate.pk).first()
        existing = Application.objects.filter(programme=programme, candidate=candidate).first()
        if existing is not None:
            if existing.status != Status.DRAFT:
                raise ScholarshipRefused(
                    _(
                        "You have already submitted an application this year (reference "
                        "%(reference)s): a second one is not possible."
                    )
                    % {"reference": existing.reference}
                )
            return existing
        application = Application.objects.create(programme=programme, candidate=candidate)
        _audit(actor, application, "scholarships.start", {}, {"status": Status.DRAFT})
    return application


def _editable(application: Application, now: _dt.datetime | None) -> None:
    _require_cnie(application.candidate)
    if application.status != Status.DRAFT:
        raise ScholarshipRefused(
            _("Your application is already submitted: it can no longer be changed.")
        )
    _require_open(application.programme.current_version(), now)


def _mark_step(application: Application, step: str) -> None:
    if step not in application.steps_done:
        application.steps_done = [s for s in STEPS if s in {*application.steps_done, step}]


def save_step(
    application: Application,
    actor,
    step: str,
    values: dict[str, Any],
    now: _dt.datetime | None = None,
) -> Application:
    """Store one step of the draft (validated by the form) and remember that it is done."""
    if step not in STEPS:
        raise ScholarshipRefused(_("Unknown step."))
    _editable(application, now)
    with transaction.atomic():
        before = {k: getattr(application, k) for k in values}
        for name, value in values.items():
            setattr(application, name, value)
        _mark_step(application, step)
        application.save()
        changed = {k: v for k, v in values.items() if before[k] != v}
        _audit(
            actor,
            application,
            "scholarships.save_step",
            {k: before[k] for k in changed},
            changed | {"step": step},
        )
    return application


def add_member(
    application: Application, actor, values: dict[str, Any], now: _dt.datetime | None = None
) -> HouseholdMember:
    _editable(application, now)
    if application.members.count() >= 30:
        raise ScholarshipRefused(_("A household has at most 30 members."))
    with transaction.atomic():
        member = HouseholdMember.objects.create(application=application, **values)
        _mark_step(application, "household")
        application.save(update_fields=["steps_done", "updated_at"])
        _audit(actor, application, "scholarships.add_member", {}, values | {"member": member.pk})
    return member


def remove_member(
    application: Application, actor, member_id: int, now: _dt.datetime | None = None
) -> None:
    _editable(application, now)
    member = application.members.filter(pk=member_id).first()
    if member is None:
        raise ScholarshipRefused(_("This member is not in your household list."))
    with transaction.atomic():
        before = {"relation": member.relation, "age": member.age, "situation": member.situation}
        member.delete()
        _audit(actor, application, "scholarships.remove_member", before | {"member": member_id}, {})


def upload_document(
    application: Application,
    actor,
    kind: str,
    upload: IO[bytes],
    now: _dt.datetime | None = None,
) -> ApplicationDocument:
    """Check (PDF, JPEG or PNG by content, within the size limit), encrypt and store one
    supporting document; it replaces the previous one of its kind. Nothing is stored if refused."""
    _editable(application, now)
    if kind not in DocumentKind.values:
        raise ScholarshipRefused(_("Choose the kind of document."), "kind")
    version = application.programme.current_version()
    max_bytes = version.max_document_bytes
    try:
        data = read_upload(upload, max_bytes)
        content_type = documents.validate_document(data, max_bytes)
    except documents.DocumentRejected as error:
        raise ScholarshipRefused(document_rejection_message(error), "file") from error
    token = documents.encrypt(data, settings.DOCUMENT_KEYS)
    name = default_storage.save(f"scholarships/{secrets.token_hex(24)}.bin", ContentFile(token))
    try:
        with transaction.atomic():
            previous = list(
                application.documents.filter(kind=kind, is_current=True).values_list(
                    "sha256", flat=True
                )
            )
            application.documents.filter(kind=kind, is_current=True).update(is_current=False)
            document = ApplicationDocument.objects.create(
                application=application,
                kind=kind,
                content_type=content_type,
                size=len(data),
                sha256=documents.sha256_hex(data),
                encrypted_file=name,
            )
            _mark_step(application, "documents")
            application.save(update_fields=["steps_done", "updated_at"])
            _audit(
                actor,
                application,
                "scholarships.upload_document",
                {"kind": kind, "sha256": previous[0]} if previous else {},
                {"kind": kind, "sha256": document.sha256, "content_type": content_type},
            )
    except Exception:
        default_storage.delete(name)
        raise
    return document


class DocumentUnavailable(Exception):
    pass


def read_document(document: ApplicationDocument, viewer) -> bytes:
    """The decrypted document; every view is written to the audit log."""
    try:
        with default_storage.open(document.encrypted_file, "rb") as handle:
            data = documents.decrypt(handle.read(), settings.DOCUMENT_KEYS)
    except (OSError, documents.InvalidToken) as exc:
        raise DocumentUnavailable from exc
    if documents.sha256_hex(data) != document.sha256:
        raise DocumentUnavailable
    _audit(
        viewer,
        document.application,
        "scholarships.view_document",
        {},
        {"document": document.pk, "kind": document.kind},
    )
    return data


def current_documents(application: Application) -> dict[str, ApplicationDocument]:
    return {d.kind: d for d in application.documents.filter(is_current=True)}


def facts_of(application: Application) -> eligibility.Facts:
    candidate = application.candidate
    return eligibility.Facts(
        has_cnie=bool((candidate.cnie_number or "").strip()),
        nationality=candidate.nationality,
        birth_date=candidate.birth_date,
        session_year=candidate.session.year,
        public_institution=application.public_institution,
        employed=application.employed,
        rnp_number=application.rnp_number,
        rsu_number=application.rsu_number,
        rsu_index=float(application.rsu_index) if application.rsu_index is not None else None,
        documents=frozenset(current_documents(application)),
    )


def criteria_of(version: ProgrammeVersion) -> eligibility.Criteria:
    return eligibility.Criteria(
        year=version.programme.session.year,
        bac_date=version.bac_date,
        nationality=version.nationality,
        age_limit=version.age_limit,
        require_bac_of_year=version.require_bac_of_year,
        require_public_institution=version.require_public_institution,
        require_no_employment=version.require_no_employment,
        require_rnp=version.require_rnp,
        require_rsu=version.require_rsu,
        rsu_threshold=float(version.rsu_threshold) if version.require_rsu else None,
        required_documents=tuple(version.required_documents or ()),
    )


def missing_steps(application: Application) -> list[str]:
    return [s for s in STEPS if s not in application.steps_done]


def eligibility_reasons(application: Application) -> list[str]:
    version = application.programme.current_version()
    return eligibility.at_submission(facts_of(application), criteria_of(version))


def _new_reference(programme: Programme) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        reference = f"BRS-{programme.session.year}-{code}"
        if not Application.objects.filter(reference=reference).exists():
            return reference


def submit(application: Application, actor, now: _dt.datetime | None = None) -> Application:
    """Submit the draft: every step done and every eligibility rule met, or it is refused with
    the reasons and stays a draft. Gives the application its reference (the receipt)."""
    now = now or timezone.now()
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",))
            .select_related("candidate__session", "programme__session")
            .get(pk=application.pk)
        )
        if application.status != Status.DRAFT:
            raise ScholarshipRefused(
                _(
                    "You have already submitted an application this year (reference "
                    "%(reference)s): a second one is not possible."
                )
                % {"reference": application.reference}
            )
        _editable(application, now)
        missing = missing_steps(application)
        if missing:
            raise ScholarshipRefused(
                _("Complete every step before you submit: %(steps)s.")
                % {"steps": ", ".join(str(step_label(s)) for s in missing)}
            )
        version = application.programme.current_version()
        reasons = eligibility.at_submission(facts_of(application), criteria_of(version))
        final = final_decision(application.candidate, now)
        if final is not None:
            reasons += eligibility.at_results(final)
        if reasons:
            raise ScholarshipRefused(
                _("Your application cannot be submitted:"),
                reasons=[reason_message(r, version) for r in reasons],
            )
        application.status = Status.SUBMITTED
        application.version = version
        application.reference = _new_reference(application.programme)
        application.submitted_at = now
        application.save()
        _audit(
            actor,
            application,
            "scholarships.submit",
            {"status": Status.DRAFT},
            {
                "status": Status.SUBMITTED,
                "reference": application.reference,
                "version": version.number,
            },
        )
        _event(application)
    return application


def step_label(step: str) -> str:
    return {
        "identity": _("Identity"),
        "household": _("Household"),
        "incomes": _("Incomes"),
        "registers": _("Social registers"),
        "studies": _("Intended studies"),
        "documents": _("Documents"),
    }[step]


# -- Re-check when results are final ----------------------------------------------------------

RECHECKED = (Status.SUBMITTED, Status.DECIDED, Status.VOID)


_RECHECK_FIELDS = ("status", "void_reasons", "voided_at", "general_average")


def _follow_result(
    application: Application, decision: str, sitting: str, general_average
) -> dict[str, Any] | None:
    """Move the application to what the result says, in memory; returns the audited `before`
    values if anything changed, else None. A non-admitted candidate's application becomes void;
    a voided one comes back when a corrected result admits them (or makes them catch-up
    candidates again). A catch-up decision of the normal sitting is not final."""
    from results.models import Decision as ResultDecision
    from results.models import Sitting

    if application.status not in RECHECKED or decision == ResultDecision.INCOMPLETE:
        return None
    before = {
        "status": application.status,
        "void_reasons": application.void_reasons,
        "general_average": application.general_average,
    }
    changed = False
    if general_average is not None and application.general_average != general_average:
        application.general_average = general_average
        changed = True
    pending = decision == ResultDecision.CATCH_UP and sitting == Sitting.NORMAL
    reasons = [] if pending else eligibility.at_results(decision)
    if reasons and application.status != Status.VOID:
        application.status = Status.VOID
        application.void_reasons = reasons
        application.voided_at = timezone.now()
        changed = True
    elif (
        not reasons
        and application.status == Status.VOID
        and application.void_reasons == [eligibility.Reason.NOT_ADMITTED]
    ):
        application.status = Status.DECIDED if application.decision else Status.SUBMITTED
        application.void_reasons = []
        application.voided_at = None
        changed = True
    return before if changed else None


def _recheck_change(application: Application, before: dict[str, Any]) -> Change:
    after = {k: getattr(application, k) for k in before}
    return Change(
        action="scholarships.results_recheck",
        object_type=OBJECT,
        object_id=str(application.pk),
        before={k: _plain(v) for k, v in before.items()},
        after={k: _plain(v) for k, v in after.items()},
        candidate_id=application.candidate_id,
    )


def apply_final_result(
    application: Application, decision: str, sitting: str, general_average=None
) -> bool:
    """Follow one candidate's result (a corrected one); returns whether the application changed."""
    before = _follow_result(application, decision, sitting, general_average)
    if before is None:
        return False
    with transaction.atomic():
        application.save(update_fields=[*_RECHECK_FIELDS, "updated_at"])
        record_changes(None, [_recheck_change(application, before)])
        if before["status"] != application.status:
            _event(application)
    return True


def recheck_publication(publication, chunk: int = 2000) -> int:
    """Re-check the applications of the publication's candidates, in chunks (one query for
    their results, one bulk update, one audit batch and one notification batch per chunk);
    returns how many changed. Scales with the applications, not with the 500,000 results."""
    from notifications.services import queue_bulk_notifications, site_url
    from results.models import PublishedResult

    ids = list(
        Application.objects.filter(
            programme__session_id=publication.session_id, status__in=RECHECKED
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    url = site_url() + reverse("scholarships:mine")
    total = 0
    for start in range(0, len(ids), chunk):
        applications = list(Application.objects.filter(pk__in=ids[start : start + chunk]))
        results = {
            candidate_id: (decision, general)
            for candidate_id, decision, general in PublishedResult.objects.filter(
                publication=publication,
                candidate_id__in=[a.candidate_id for a in applications],
            ).values_list("candidate_id", "decision", "general_average")
        }
        changed: list[tuple[Application, dict[str, Any]]] = []
        for application in applications:
            if application.candidate_id not in results:
                continue
            decision, general = results[application.candidate_id]
            before = _follow_result(application, decision, publication.sitting, general)
            if before is not None:
                changed.append((application, before))
        if not changed:
            continue
        moved = [a for a, before in changed if before["status"] != a.status]
        with transaction.atomic():
            now = timezone.now()
            for application, _before in changed:
                application.updated_at = now
            Application.objects.bulk_update(
                [a for a, _b in changed], [*_RECHECK_FIELDS, "updated_at"], batch_size=1000
            )
            record_changes(None, [_recheck_change(a, before) for a, before in changed])
            StatusEvent.objects.bulk_create(
                [
                    StatusEvent(
                        application=a,
                        status=a.status,
                        decision=a.decision,
                        appeal_status=a.appeal_status,
                    )
                    for a in moved
                ]
            )
            for status in {a.status for a in moved}:
                queue_bulk_notifications(
                    "scholarship_status",
                    f"scholarship.results.{publication.pk}.{status}",
                    [a.candidate_id for a in moved if a.status == status],
                    {"url": url},
                )
        total += len(changed)
    return total


def final_decision(candidate: Candidate, now: _dt.datetime | None = None) -> str | None:
    """The candidate's final bac decision if public results already settle it, else None (no
    result yet, or a catch-up decision before the catch-up sitting's results)."""
    from results.models import Decision as ResultDecision
    from results.models import Publication, PublishedResult, Sitting

    row = (
        PublishedResult.objects.filter(
            candidate=candidate,
            publication__status=Publication.Status.READY,
            publication__publish_at__lte=now or timezone.now(),
        )
        .order_by("-publication__publish_at", "-publication__version")
        .values_list("decision", "publication__sitting")
        .first()
    )
    if row is None:
        return None
    decision, sitting = row
    if decision == ResultDecision.INCOMPLETE or (
        decision == ResultDecision.CATCH_UP and sitting == Sitting.NORMAL
    ):
        return None
    return decision


def on_publication_made_public(sender, publication, **kwargs) -> None:
    # A failure here must not stop the results service that sent the signal (other
    # publications are notified in the same loop): it is logged, and
    # `manage.py recheck_scholarships` runs the re-check again (it is idempotent).
    try:
        recheck_publication(publication)
    except Exception:
        logger.exception("scholarship re-check of publication %s failed", publication.pk)


def on_result_republished(sender, candidate, publication, computed_result, **kwargs) -> None:
    try:
        for application in Application.objects.filter(candidate=candidate, status__in=RECHECKED):
            apply_final_result(
                application,
                computed_result.decision,
                publication.sitting,
                computed_result.general_average,
            )
    except Exception:
        logger.exception("scholarship re-check of candidate %s failed", candidate.pk)


def recheck_session(session: ExamSession) -> int:
    """Re-check every application of the session against its candidate's latest public
    result (a recovery tool: one query per application); returns the number of changes."""
    from results.models import Publication, PublishedResult

    changed = 0
    applications = Application.objects.filter(
        programme__session=session, status__in=RECHECKED
    ).order_by("pk")
    for application in applications.iterator(chunk_size=500):
        row = (
            PublishedResult.objects.filter(
                candidate_id=application.candidate_id,
                publication__status=Publication.Status.READY,
                publication__publish_at__lte=timezone.now(),
            )
            .order_by("-publication__publish_at", "-publication__version")
            .values_list("decision", "publication__sitting", "general_average")
            .first()
        )
        if row is not None:
            changed += apply_final_result(application, *row)
    return changed


# -- Appeals (the candidate) ------------------------------------------------------------------


def appeal_deadline(application: Application) -> _dt.datetime | None:
    if application.decided_at is None or application.version is None:
        return None
    return application.decided_at + _dt.timedelta(days=application.version.appeal_days)


def can_appeal(application: Application, now: _dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    deadline = appeal_deadline(application)
    return (
        application.status == Status.DECIDED
        and application.decision in (Decision.REFUSED, Decision.HALF)
        and application.appeal_status == AppealStatus.NONE
        and deadline is not None
        and now < deadline
    )


def file_appeal(
    application: Application, actor, text: str, now: _dt.datetime | None = None
) -> Application:
    text = (text or "").strip()
    if not text:
        raise ScholarshipRefused(_("Explain why you appeal."), "text")
    with transaction.atomic():
        application = Application.objects.select_for_update(of=("self",)).get(pk=application.pk)
        if not can_appeal(application, now):
            raise ScholarshipRefused(
                _(
                    "An appeal is possible once, within the appeal window after a refusal or a half grant."
                )
            )
        application.appeal_status = AppealStatus.PENDING
        application.appeal_text = text[:3000]
        application.appealed_at = now or timezone.now()
        application.save()
        _audit(
            actor,
            application,
            "scholarships.appeal",
            {"appeal_status": ""},
            {"appeal_status": AppealStatus.PENDING},
        )
        _event(application)
    return application


# -- The commission ---------------------------------------------------------------------------


def membership(user) -> CommissionMember | None:
    if not user.is_authenticated or user.role not in (Role.ACADEMY, Role.MINISTRY):
        return None
    member = CommissionMember.objects.filter(user=user, is_active=True).first()
    if member is None:
        return None
    if user.role == Role.ACADEMY and member.academy_id != user.academy_id:
        # An academy agent sits only for their own academy, whatever the row says.
        return None
    return member


def applications_in_scope(user) -> QuerySet:
    member = membership(user)
    queryset = Application.objects.exclude(status=Status.DRAFT)
    if member is None:
        return queryset.none()
    if member.academy_id is not None:
        queryset = queryset.filter(candidate__school__directorate__academy_id=member.academy_id)
    return queryset


def _require_member(actor, application: Application) -> None:
    if not applications_in_scope(actor).filter(pk=application.pk).exists():
        raise ScholarshipRefused(
            _(
                "Only a member of the scholarship commission for this candidate's academy may "
                "decide. Nothing was changed."
            )
        )


def decide(
    application: Application,
    actor,
    decision: str,
    reason: str = "",
    now: _dt.datetime | None = None,
) -> Application:
    """A commission member's decision: full grant, half grant or refusal (with its reason)."""
    _require_member(actor, application)
    if decision not in (Decision.FULL, Decision.HALF, Decision.REFUSED):
        raise ScholarshipRefused(_("Choose a decision."), "decision")
    reason = (reason or "").strip()
    if decision == Decision.REFUSED and not reason:
        raise ScholarshipRefused(
            _("Give the reason of the refusal: the candidate will read it."), "reason"
        )
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",))
            .select_related("version", "candidate")
            .get(pk=application.pk)
        )
        if application.status not in (Status.SUBMITTED, Status.DECIDED):
            raise ScholarshipRefused(
                _("Only a submitted application that is not void can be decided.")
            )
        if application.appeal_status == AppealStatus.PENDING:
            raise ScholarshipRefused(_("An appeal is pending: decide the appeal instead."))
        # The application is judged under the rules in force when the commission decides
        # (amounts included); the version is recorded with the decision.
        version = application.programme.current_version()
        before = {
            "status": application.status,
            "decision": application.decision,
            "amount": application.amount,
            "version": application.version.number if application.version else None,
        }
        application.version = version
        application.status = Status.DECIDED
        application.decision = decision
        application.decision_reason = reason[:500]
        application.amount = {
            Decision.FULL: version.full_amount,
            Decision.HALF: version.half_amount,
        }.get(decision)
        application.decided_at = now or timezone.now()
        application.decided_by = actor
        application.save()
        _audit(
            actor,
            application,
            "scholarships.decide",
            before,
            {
                "status": application.status,
                "decision": decision,
                "amount": application.amount,
                "version": version.number,
            },
            reason,
        )
        _event(application, reason)
    return application


def decide_in_bulk(
    applications: Iterable[Application], actor, decision: str, reason: str = ""
) -> tuple[int, list[str]]:
    """Decide several; "proposal" applies each one's ranking proposal. Returns (done, refusals)."""
    done, refusals = 0, []
    for application in applications:
        chosen = application.proposal if decision == "proposal" else decision
        try:
            decide(
                application,
                actor,
                chosen,
                reason or (_("Budget exhausted") if chosen == Decision.REFUSED else ""),
            )
            done += 1
        except ScholarshipRefused as refusal:
            refusals.append(f"{application.reference}: {refusal.message}")
    return done, refusals


def decide_appeal(
    application: Application, actor, uphold: bool, decision: str, reason: str
) -> Application:
    _require_member(actor, application)
    reason = (reason or "").strip()
    if not reason:
        raise ScholarshipRefused(_("Give the reason: the candidate will read it."), "reason")
    if uphold and decision not in (Decision.FULL, Decision.HALF):
        raise ScholarshipRefused(_("An upheld appeal grants a full or a half grant."), "decision")
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",))
            .select_related("version")
            .get(pk=application.pk)
        )
        if application.appeal_status != AppealStatus.PENDING:
            raise ScholarshipRefused(_("No appeal is pending on this application."))
        before = {
            "appeal_status": application.appeal_status,
            "decision": application.decision,
            "amount": application.amount,
        }
        application.appeal_status = AppealStatus.UPHELD if uphold else AppealStatus.DISMISSED
        application.appeal_reason = reason[:500]
        if uphold:
            version = application.version or application.programme.current_version()
            application.decision = decision
            application.amount = (
                version.full_amount if decision == Decision.FULL else version.half_amount
            )
        application.save()
        _audit(
            actor,
            application,
            "scholarships.decide_appeal",
            before,
            {
                "appeal_status": application.appeal_status,
                "decision": application.decision,
                "amount": application.amount,
            },
            reason,
        )
        _event(application, reason)
    return application


# -- Ranking ----------------------------------------------------------------------------------


def household_size(application: Application) -> int:
    return 1 + application.members.count()


def rules_of(version: ProgrammeVersion) -> scoring.Rules:
    return scoring.Rules(
        weights=version.weights,
        rsu_threshold=float(version.rsu_threshold),
        income_ceiling=float(version.income_ceiling),
        full_grant_max_index=float(version.full_grant_max_index),
        full_amount=version.full_amount,
        half_amount=version.half_amount,
        budget_grants=version.budget_grants,
        budget_amount=version.budget_amount,
    )


def rank_programme(programme: Programme, actor) -> dict[str, Any]:
    """Score and rank every valid application of the programme under its current version's
    budget; store score, rank and proposal. Only national members rank (the budget is national)."""
    member = membership(actor)
    if member is None or member.academy_id is not None:
        raise ScholarshipRefused(
            _("Only a national member of the commission may rank the applications.")
        )
    version = programme.current_version()
    rules = rules_of(version)
    queryset = (
        Application.objects.filter(
            programme=programme, status__in=(Status.SUBMITTED, Status.DECIDED)
        )
        .annotate(size=Count("members"))
        .values_list(
            "pk",
            "rsu_index",
            "size",
            "household_income",
            "other_income",
            "submitted_at",
            "general_average",
        )
    )
    applicants = [
        scoring.Applicant(
            id=pk,
            rsu_index=float(index or 0),
            household_size=1 + size,
            yearly_income=float((income or 0) + (other or 0)),
            submitted_at=submitted.timestamp() if submitted else 0.0,
            general_average=float(average) if average is not None else None,
        )
        for pk, index, size, income, other, submitted, average in queryset
    ]
    ranked = scoring.rank(applicants, rules)
    by_id = {r.id: r for r in ranked}
    with transaction.atomic():
        Application.objects.filter(programme=programme).update(score=None, rank=None, proposal="")
        # Walked in chunks (never one IN list of every id: SQLite caps bound parameters).
        batch: list[Application] = []
        ranked_rows = Application.objects.filter(
            programme=programme, status__in=(Status.SUBMITTED, Status.DECIDED)
        ).only("pk")
        for application in ranked_rows.iterator(chunk_size=5000):
            r = by_id.get(application.pk)
            if r is None:
                continue
            application.score = Decimal(str(r.score))
            application.rank = r.rank
            application.proposal = r.proposal
            batch.append(application)
            if len(batch) >= 2000:
                Application.objects.bulk_update(batch, ["score", "rank", "proposal"])
                batch = []
        if batch:
            Application.objects.bulk_update(batch, ["score", "rank", "proposal"])
        summary = scoring.totals(ranked, rules)
        record_changes(
            actor,
            [
                Change(
                    action="scholarships.rank",
                    object_type="scholarships.programme",
                    object_id=str(programme.pk),
                    after={k: _plain(v) for k, v in summary.items()} | {"version": version.number},
                )
            ],
        )
    return summary


# -- Consistency checks -----------------------------------------------------------------------


def duplicate_rsu_numbers(queryset: QuerySet) -> QuerySet:
    """The RSU identifiers given by more than one application of `queryset`, as a subquery."""
    return (
        queryset.exclude(rsu_number="")
        .order_by()
        .values("rsu_number")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values("rsu_number")
    )


def checks(application: Application) -> list[str]:
    """What the commission should look at: duplicates and contradictions with the register."""
    found: list[str] = []
    others = Application.objects.filter(programme=application.programme).exclude(
        Q(pk=application.pk) | Q(status=Status.DRAFT)
    )
    if application.rsu_number and others.filter(rsu_number=application.rsu_number).exists():
        found.append(_("Another application gives the same RSU identifier (same household?)."))
    if application.rnp_number and others.filter(rnp_number=application.rnp_number).exists():
        found.append(_("Another application gives the same RNP identifier."))
    if not SocialRegisterEntry.objects.filter(programme=application.programme).exists():
        return found
    entry = SocialRegisterEntry.objects.filter(
        programme=application.programme, rsu_number=register.normalize_rsu(application.rsu_number)
    ).first()
    if entry is None:
        found.append(_("The RSU identifier is not in the imported social-register extract."))
        return found
    size = household_size(application)
    if size != entry.household_size:
        found.append(
            _("Household of %(declared)s declared; the register says %(register)s.")
            % {"declared": size, "register": entry.household_size}
        )
    if application.rsu_index is not None and application.rsu_index != entry.rsu_index:
        found.append(
            _("RSU index %(declared)s declared; the register says %(register)s.")
            % {"declared": application.rsu_index, "register": entry.rsu_index}
        )
    if entry.yearly_income is not None:
        declared = (application.household_income or 0) + (application.other_income or 0)
        if abs(declared - entry.yearly_income) > max(Decimal("1000"), entry.yearly_income / 10):
            found.append(
                _("Income of %(declared)s MAD declared; the register says %(register)s MAD.")
                % {"declared": declared, "register": entry.yearly_income}
            )
    return found


REGISTER_MESSAGES = {
    register.Code.FILE_EMPTY: lambda p: _("The file is empty."),
    register.Code.FILE_BAD_ENCODING: lambda p: _("The file is not UTF-8 text."),
    register.Code.HEADER_UNKNOWN: lambda p: _("Unknown column."),
    register.Code.HEADER_MISSING: lambda p: _("This required column is missing."),
    register.Code.TOO_MANY_ROWS: lambda p: _("Too many rows."),
    register.Code.REQUIRED: lambda p: _("This value is required."),
    register.Code.RSU_INVALID: lambda p: _("An RSU identifier is 6 to 20 letters or digits."),
    register.Code.SIZE_INVALID: lambda p: _("A household has 1 to 30 members."),
    register.Code.NUMBER_INVALID: lambda p: _("This is not a number."),
    register.Code.DUPLICATE: lambda p: (
        _("This household is already on line %(line)s.") % {"line": p["first"]}
    ),
    register.Code.WRONG_WIDTH: lambda p: (
        _("This row does not have %(n)s cells.") % {"n": p["expected"]}
    ),
}


class RegisterImportRejected(Exception):
    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def import_register(programme: Programme, actor, data: bytes) -> int:
    """Replace the programme's social-register extract, all or nothing: any bad row and
    nothing is stored, every bad row reported. Returns the number of households."""
    member = membership(actor)
    if member is None or member.academy_id is not None:
        raise ScholarshipRefused(
            _("Only a national member of the commission may import the social register.")
        )
    parsed = register.parse_register(data)
    if parsed.errors:
        raise RegisterImportRejected(
            [
                {
                    "line": e.line,
                    "column": e.column,
                    "message": str(REGISTER_MESSAGES[e.code](e.params)),
                }
                for e in parsed.errors
            ]
        )
    with transaction.atomic():
        before = SocialRegisterEntry.objects.filter(programme=programme).count()
        SocialRegisterEntry.objects.filter(programme=programme).delete()
        SocialRegisterEntry.objects.bulk_create(
            [
                SocialRegisterEntry(
                    programme=programme,
                    rsu_number=h.rsu_number,
                    household_size=h.household_size,
                    rsu_index=h.rsu_index,
                    yearly_income=h.yearly_income,
                )
                for h in parsed.rows
            ],
            batch_size=5000,
        )
        record_changes(
            actor,
            [
                Change(
                    action="scholarships.import_register",
                    object_type="scholarships.programme",
                    object_id=str(programme.pk),
                    before={"households": before},
                    after={"households": len(parsed.rows)},
                )
            ],
        )
    return len(parsed.rows)


# -- Exports and statistics -------------------------------------------------------------------

EXPORT_HEADER = (
    "reference",
    "massar_code",
    "cnie_number",
    "last_name",
    "first_name",
    "sex",
    "academy",
    "directorate",
    "status",
    "rsu_number",
    "rsu_index",
    "household_size",
    "yearly_income",
    "score",
    "rank",
    "proposal",
    "decision",
    "amount",
    "decision_reason",
    "appeal",
)


def export_rows(queryset: QuerySet) -> Iterable[list[Any]]:
    queryset = (
        queryset.select_related("candidate__school__directorate__academy")
        .annotate(size=Count("members"))
        .order_by("rank", "reference")
    )
    for a in queryset.iterator(chunk_size=2000):
        c = a.candidate
        yield [
            a.reference,
            c.massar_code,
            c.cnie_number,
            c.last_name_latin,
            c.first_name_latin,
            c.sex,
            c.school.directorate.academy.code,
            c.school.directorate.code,
            a.status,
            a.rsu_number,
            "" if a.rsu_index is None else str(a.rsu_index),
            1 + a.size,
            str((a.household_income or 0) + (a.other_income or 0)),
            "" if a.score is None else str(a.score),
            a.rank or "",
            a.proposal,
            a.decision,
            "" if a.amount is None else str(a.amount),
            a.decision_reason,
            a.appeal_status,
        ]


def _safe_cell(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def export_csv(queryset: QuerySet) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(EXPORT_HEADER)
    for row in export_rows(queryset):
        writer.writerow([_safe_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(queryset: QuerySet) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("applications")
    sheet.append(EXPORT_HEADER)
    for row in export_rows(queryset):
        sheet.append([_safe_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


DIMENSIONS = {
    "academy": (
        "candidate__school__directorate__academy__code",
        "candidate__school__directorate__academy__name_fr",
    ),
    "directorate": (
        "candidate__school__directorate__code",
        "candidate__school__directorate__name_fr",
    ),
    "sex": ("candidate__sex", "candidate__sex"),
}


def statistics(queryset: QuerySet, dimension: str) -> list[dict[str, Any]]:
    """Applications, grants and amounts per academy, directorate or sex."""
    key, label = DIMENSIONS[dimension]
    rows = (
        queryset.values(key, label)
        .annotate(
            applications=Count("pk"),
            full=Count("pk", filter=Q(status=Status.DECIDED, decision=Decision.FULL)),
            half=Count("pk", filter=Q(status=Status.DECIDED, decision=Decision.HALF)),
            refused=Count("pk", filter=Q(status=Status.DECIDED, decision=Decision.REFUSED)),
            void=Count("pk", filter=Q(status=Status.VOID)),
            amount=Sum("amount", filter=Q(status=Status.DECIDED)),
        )
        .order_by(key)
    )
    sexes = {"F": _("Female"), "M": _("Male")}
    result = []
    for row in rows:
        name = row[label]
        if dimension == "sex":
            name = str(sexes.get(name, name))
        result.append(
            {
                "label": name,
                "applications": row["applications"],
                "full": row["full"],
                "half": row["half"],
                "refused": row["refused"],
                "void": row["void"],
                "grants": row["full"] + row["half"],
                "amount": row["amount"] or Decimal("0"),
            }
        )
    return result

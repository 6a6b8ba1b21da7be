"""The scholarships app's entries in the register of personal data (privacy.register): the
application, the household and incomes it declares, its supporting documents and the
social-register extract; with their exporters (the candidate's own data, documents decrypted)
and purgers. Declared from ScholarshipsConfig.ready()."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Max, Q
from django.utils.translation import gettext_lazy as _

# Supporting documents: one year after the application's file closed for good (decision and
# appeal window over, or void), long enough for the payment's first year and its checks.
DOCUMENT_DAYS = 365
# The social-register extract: one year after its import (each year's programme imports its own).
REGISTER_DAYS = 365
PUBLIC_TASK = _("Public task: awarding the post-baccalaureate scholarships (law 09-08, article 4)")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _applications(candidate):
    from .models import Application

    return (
        Application.objects.filter(candidate=candidate)
        .select_related("programme__session")
        .order_by("created_at", "pk")
    )


# -- Exporters --------------------------------------------------------------------------------

APPLICATION_FIELDS = (
    "reference",
    "status",
    "address",
    "rnp_number",
    "rsu_number",
    "rsu_index",
    "institution",
    "institution_city",
    "field_of_study",
    "public_institution",
    "steps_done",
    "submitted_at",
    "void_reasons",
    "voided_at",
    "general_average",
    "score",
    "rank",
    "proposal",
    "decision",
    "decision_reason",
    "amount",
    "decided_at",
    "appeal_status",
    "appeal_text",
    "appealed_at",
    "appeal_reason",
    "created_at",
    "updated_at",
)


def _name(application) -> str:
    return application.reference or f"draft-{application.pk}"


def export_applications(candidate, actor, address: str | None):
    """Each application with the history the candidate sees (who decided is left out: the
    commission decides as a body)."""
    from privacy.register import Export

    records = []
    for application in _applications(candidate).prefetch_related("events"):
        row = {name: _plain(getattr(application, name)) for name in APPLICATION_FIELDS}
        row["application"] = _name(application)
        row["session"] = application.programme.session.code
        row["history"] = [
            {
                "at": _plain(e.at),
                "status": e.status,
                "decision": e.decision,
                "appeal_status": e.appeal_status,
                "note": e.note,
            }
            for e in application.events.all()
        ]
        records.append(row)
    return Export(records=records)


def export_household(candidate, actor, address: str | None):
    from privacy.register import Export

    from .models import HouseholdMember

    members = (
        HouseholdMember.objects.filter(application__candidate=candidate)
        .select_related("application")
        .order_by("application_id", "pk")
    )
    return Export(
        records=[
            {
                "application": _name(m.application),
                "relation": m.relation,
                "age": m.age,
                "situation": m.situation,
            }
            for m in members
        ]
    )


def export_incomes(candidate, actor, address: str | None):
    """What the candidate declared; an application that never reached the incomes step
    declared nothing and is left out."""
    from privacy.register import Export

    return Export(
        records=[
            {
                "application": _name(a),
                "household_income": _plain(a.household_income),
                "other_income": _plain(a.other_income),
                "employed": a.employed,
            }
            for a in _applications(candidate)
            if "incomes" in a.steps_done or a.household_income is not None
        ]
    )


def export_documents(candidate, actor, address: str | None):
    """Every stored document, decrypted; each read is audited as the app's own read path does
    (scholarships.services.read_document)."""
    from privacy.register import Export

    from . import services
    from .models import ApplicationDocument

    extensions = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
    out = Export()
    documents = (
        ApplicationDocument.objects.filter(application__candidate=candidate)
        .select_related("application")
        .order_by("uploaded_at", "pk")
    )
    for document in documents:
        row = {
            "application": _name(document.application),
            "kind": document.kind,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
            "is_current": document.is_current,
            "uploaded_at": _plain(document.uploaded_at),
            "file": None,
        }
        try:
            data = services.read_document(document, actor)
        except services.DocumentUnavailable:
            row["note"] = "the stored document cannot be read"
        else:
            name = (
                f"documents/scholarship-{document.pk}-{document.kind}."
                f"{extensions.get(document.content_type, 'bin')}"
            )
            out.files[name] = data
            row["file"] = name
        out.records.append(row)
    return out


def export_register_entries(candidate, actor, address: str | None):
    """What the imported social-register extract says about the household of each of the
    candidate's applications (matched by the RSU identifier they gave)."""
    from privacy.register import Export

    from .models import SocialRegisterEntry

    records = []
    for application in _applications(candidate).exclude(rsu_number=""):
        entry = SocialRegisterEntry.objects.filter(
            programme_id=application.programme_id, rsu_number=application.rsu_number
        ).first()
        if entry is not None:
            records.append(
                {
                    "application": _name(application),
                    "rsu_number": entry.rsu_number,
                    "household_size": entry.household_size,
                    "rsu_index": _plain(entry.rsu_index),
                    "yearly_income": _plain(entry.yearly_income),
                    "imported_at": _plain(entry.imported_at),
                }
            )
    return Export(records=records)


# -- Purgers ----------------------------------------------------------------------------------


def closed_at(application, last_event: datetime.datetime | None) -> datetime.datetime | None:
    """When the application's file closed for good, or None while it may still change: a
    submitted application waits for its decision, a pending appeal for its own, a decision for
    its appeal window; a draft closes with the programme's window (it can no longer be
    submitted). `application.programme` must carry its current version's `closes_at` (below)."""
    from .models import AppealStatus, Status

    if application.appeal_status == AppealStatus.PENDING:
        return None
    moments: list[datetime.datetime] = [last_event] if last_event else []
    if application.status == Status.DECIDED:
        if application.decided_at is None:
            return None
        appeal_days = application.version.appeal_days if application.version else 0
        moments.append(application.decided_at + datetime.timedelta(days=appeal_days))
    elif application.status == Status.VOID:
        if application.voided_at is not None:
            moments.append(application.voided_at)
    elif application.status == Status.DRAFT:
        closes_at = getattr(application.programme, "window_closes_at", None)
        if closes_at is None:
            return None
        moments.append(closes_at)
    else:
        return None
    return max(moments) if moments else None


def _closed_before(cutoff: datetime.datetime) -> list:
    """Applications with documents whose file closed before `cutoff`."""
    from .models import Application, Programme, Status

    closes = {}
    for programme in Programme.objects.all():
        version = programme.current_version()
        closes[programme.pk] = version.closes_at if version else None
    # A necessary condition in SQL (the file cannot close before these), the rest in Python.
    candidates = (
        Application.objects.filter(documents__isnull=False)
        .filter(
            Q(status=Status.DECIDED, decided_at__lt=cutoff)
            | Q(status=Status.VOID)
            | Q(
                status=Status.DRAFT,
                programme_id__in=[pk for pk, at in closes.items() if at and at < cutoff],
            )
        )
        .select_related("version", "programme")
        .annotate(last_event=Max("events__at"))
        .distinct()
        .order_by("pk")
    )
    found = []
    for application in candidates:
        application.programme.window_closes_at = closes.get(application.programme_id)
        moment = closed_at(application, application.last_event)
        if moment is not None and moment < cutoff:
            found.append(application)
    return found


def purge_documents(cutoff: datetime.datetime, dry_run: bool) -> int:
    """Delete the supporting documents (files and rows, replaced ones too) of applications
    closed before `cutoff`; the application, its decision and history stay. One audit entry per
    application, in the candidate's history. Returns the number of documents."""
    from privacy.purging import purge_stored_documents

    from .models import ApplicationDocument

    applications = _closed_before(cutoff)
    rows = list(
        ApplicationDocument.objects.filter(application__in=[a.pk for a in applications])
        .order_by("application_id", "pk")
        .values_list("pk", "application_id", "kind", "sha256", "encrypted_file")
    )
    if dry_run or not rows:
        return len(rows)
    by_application: dict[int, list] = {}
    for row in rows:
        by_application.setdefault(row[1], []).append(row)
    owners = {a.pk: a.candidate_id for a in applications}
    # In batches of applications: each application's documents and audit entry together.
    purge_stored_documents(
        list(by_application),
        action="scholarships.purge_documents",
        object_type="scholarships.application",
        describe=lambda pk: (
            str(pk),
            owners[pk],
            {
                "documents": [
                    {"kind": kind, "sha256": sha256}
                    for _doc, _app, kind, sha256, _file in by_application[pk]
                ]
            },
        ),
        forget=lambda chunk: ApplicationDocument.objects.filter(
            pk__in=[row[0] for pk in chunk for row in by_application[pk]]
        ).delete(),
        files=lambda chunk: [row[4] for pk in chunk for row in by_application[pk]],
    )
    return len(rows)


def purge_register(cutoff: datetime.datetime, dry_run: bool) -> int:
    """The social-register extract imported before `cutoff` (not a candidate's own record:
    no per-candidate audit; the command records one summary entry)."""
    from .models import SocialRegisterEntry

    old = SocialRegisterEntry.objects.filter(imported_at__lt=cutoff)
    if dry_run:
        return old.count()
    return old.delete()[1].get(SocialRegisterEntry._meta.label, 0)


# -- The register -----------------------------------------------------------------------------


def register_data_kinds() -> None:
    from privacy.register import data_kind

    data_kind(
        "scholarships.application",
        label=_("Scholarship applications"),
        fields=_(
            "Reference, postal address, national population register (RNP) and social "
            "register (RSU) identifiers and RSU index, intended studies, status, score, rank, "
            "decision and amount with their reasons, appeal and its decision, the history of "
            "the application"
        ),
        purpose=_("Examine the application, decide on the scholarship and pay it"),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "The candidate; the scholarship commission of their academy and the national "
            "commission (ministry)"
        ),
        retention=_("Kept: the record of a public grant"),
        exporter=export_applications,
        models=("scholarships.Application", "scholarships.StatusEvent"),
    )
    data_kind(
        "scholarships.household",
        label=_("Household declared for a scholarship"),
        fields=_("Relation, age and situation of each member of the candidate's household"),
        purpose=_("Assess the household's needs (household size counts in the score)"),
        legal_basis=PUBLIC_TASK,
        recipients=_("The candidate; the scholarship commission of their academy and the nation"),
        retention=_("Kept with the application"),
        exporter=export_household,
        models=("scholarships.HouseholdMember",),
    )
    data_kind(
        "scholarships.income",
        label=_("Incomes declared for a scholarship"),
        fields=_("Yearly household income, other income, whether the candidate has a paid job"),
        purpose=_("Check the eligibility rules and score the application"),
        legal_basis=PUBLIC_TASK,
        recipients=_("The candidate; the scholarship commission of their academy and the nation"),
        retention=_("Kept with the application"),
        exporter=export_incomes,
        models=("scholarships.Application",),
    )
    data_kind(
        "scholarships.document",
        label=_("Scholarship supporting documents"),
        fields=_(
            "Income certificates, social-register certificates, enrolment certificates and "
            "other documents uploaded with the application, encrypted at rest"
        ),
        purpose=_("Prove what the application declares"),
        legal_basis=PUBLIC_TASK,
        recipients=_(
            "The candidate; the scholarship commission of their academy and the nation (every "
            "view is logged)"
        ),
        retention=_(
            "Deleted one year after the application is closed: decided and the appeal window "
            "over (or the appeal decided), void, or left as a draft when the window closed"
        ),
        retention_days=DOCUMENT_DAYS,
        purger=purge_documents,
        exporter=export_documents,
        models=("scholarships.ApplicationDocument",),
    )
    data_kind(
        "scholarships.social_register",
        label=_("Social register (RSU) extract"),
        fields=_(
            "For each household of the extract: RSU identifier, household size, RSU index and "
            "yearly income"
        ),
        purpose=_("Compare what applicants declare with the social register"),
        legal_basis=PUBLIC_TASK,
        recipients=_("The national scholarship commission; the candidate sees their household's"),
        retention=_("Deleted one year after import; each year's programme imports its own"),
        retention_days=REGISTER_DAYS,
        purger=purge_register,
        exporter=export_register_entries,
        models=("scholarships.SocialRegisterEntry",),
    )

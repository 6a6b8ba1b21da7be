"""Back-office actions on a candidate's file: editing it, uploading and viewing the CNIE copy.

Every change is written with its audit entry in one transaction; every view of an identity
document is logged. Views call these functions and never touch the models' state directly.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import Change, record_changes
from identity.access import scope_candidates

from . import documents
from .identifiers import normalize_cnie, normalize_massar
from .models import AUDITED_FIELDS, Candidate, CnieDocument, DocumentAccess, IdentitySource

# Foreign keys among the audited fields, as the forms name them.
_FOREIGN_KEYS = {"school": "school_id", "track": "track_id"}


# -- Scope ------------------------------------------------------------------------------------


def candidate_in_scope(user, pk: int, queryset: QuerySet | None = None) -> Candidate:
    """The candidate `pk` if the user's scope includes it; 404 otherwise (never 403, so that
    ids cannot be probed)."""
    base = queryset if queryset is not None else Candidate.objects.all()
    return get_object_or_404(scope_candidates(user, base), pk=pk)


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address, believing X-Forwarded-For only from TRUSTED_PROXY_COUNT proxies."""
    candidate = request.META.get("REMOTE_ADDR")
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies:
        hops = [
            h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()
        ]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate)) if candidate else None
    except ValueError:
        return None


# -- The list ---------------------------------------------------------------------------------


class CappedPaginator(Paginator):
    """A paginator that counts at most `cap` rows: counting 500,000 rows on every page is slow,
    and nobody pages that far; past the cap, the user is asked to narrow the search."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # values("pk") leaves out the select_related joins and unused annotations.
        counted = self.object_list.values("pk")[: self.cap + 1].count()
        self.capped = counted > self.cap
        return min(counted, self.cap)

    capped = False


@dataclass(frozen=True)
class CandidateFilters:
    query: str = ""
    session_id: int | None = None
    school_id: int | None = None
    school_code: str = ""
    track_id: int | None = None
    candidate_type: str = ""
    has_cnie_copy: bool | None = None


def _latin_variants(text: str) -> set[str]:
    return {text, text.upper(), text.title(), text.capitalize()}


def search_condition(query: str) -> Q:
    """Prefix conditions a B-tree index can serve: Massar code or CNIE number for an identifier,
    family or given name otherwise (Arabic as typed; Latin in the usual letter cases)."""
    text = " ".join(query.split())
    if not text:
        return Q()
    folded = normalize_massar(text)
    condition = Q()
    if folded[:1].isalpha() and folded[:1].isascii() and folded[1:].isdigit():
        condition |= Q(massar_code__startswith=folded)
    if (
        len(folded) <= 8
        and folded.isascii()
        and folded.isalnum()
        and any(c.isdigit() for c in folded)
    ):
        condition |= Q(cnie_number__startswith=normalize_cnie(text))
    if condition:
        return condition
    if any("\u0600" <= char <= "\u06ff" for char in text):
        return Q(last_name_ar__startswith=text) | Q(first_name_ar__startswith=text)
    for variant in _latin_variants(text):
        condition |= Q(last_name_latin__startswith=variant) | Q(
            first_name_latin__startswith=variant
        )
    return condition


def candidate_list_queryset(user, filters: CandidateFilters) -> QuerySet:
    """The candidates a staff member may see, filtered, with everything a row shows: a fixed
    number of queries whatever the number of rows."""
    current_copy = CnieDocument.objects.filter(candidate=OuterRef("pk"), is_current=True)
    queryset = scope_candidates(
        user,
        Candidate.objects.select_related("session", "school", "track").annotate(
            has_cnie_copy=Exists(current_copy)
        ),
    )
    if filters.session_id:
        queryset = queryset.filter(session_id=filters.session_id)
    if filters.school_id:
        queryset = queryset.filter(school_id=filters.school_id)
    if filters.school_code:
        queryset = queryset.filter(
            school__code__in={filters.school_code, filters.school_code.upper()}
        )
    if filters.track_id:
        queryset = queryset.filter(track_id=filters.track_id)
    if filters.candidate_type:
        queryset = queryset.filter(candidate_type=filters.candidate_type)
    if filters.has_cnie_copy is not None:
        queryset = queryset.filter(has_cnie_copy=filters.has_cnie_copy)
    if filters.query:
        queryset = queryset.filter(search_condition(filters.query))
    return queryset.order_by("massar_code", "pk")


# -- Editing the file -------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def _as_attribute(name: str, value: Any) -> tuple[str, Any]:
    if name in _FOREIGN_KEYS:
        return _FOREIGN_KEYS[name], value.pk if isinstance(value, models.Model) else value
    return name, value


@transaction.atomic
def update_candidate_file(
    candidate: Candidate, changes: Mapping[str, Any], actor, reason: str
) -> Candidate:
    """Apply `changes` (audited field -> new value) to the file and write ONE audit entry with
    the before and after of the fields that really changed, and why. No change, no entry.

    The row is re-read under lock, so the `before` is what the database held, not what a form
    may have already put on the instance. Returns the file as saved.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required to change a candidate's file")
    updates = dict(_as_attribute(name, value) for name, value in changes.items())
    unknown = set(updates) - set(AUDITED_FIELDS)
    if unknown:
        raise ValueError(f"not an editable field: {', '.join(sorted(unknown))}")
    current = Candidate.objects.select_for_update().get(pk=candidate.pk)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attribute, value in updates.items():
        old = getattr(current, attribute)
        if old != value:
            before[attribute] = _json_value(old)
            after[attribute] = _json_value(value)
            setattr(current, attribute, value)
    if not after:
        return current
    current.save(update_fields=[*after, "updated_at"])
    record_changes(
        actor,
        [
            Change(
                action="candidate.update",
                object_type="candidate",
                object_id=str(current.pk),
                before=before,
                after=after,
                reason=reason,
                candidate_id=current.pk,
            )
        ],
    )
    return current


# -- The CNIE copy ----------------------------------------------------------------------------


class DocumentUnavailable(Exception):
    """There is no current copy, or its stored file cannot be read or does not match its hash."""


REJECTION_MESSAGES = {
    "empty": lambda p: _("The file is empty."),
    "too_large": lambda p: (
        _("The file is larger than %(limit)s. Scan the card at a lower resolution.")
        % {"limit": _format_size(p["max_bytes"])}
    ),
    "unsupported_type": lambda p: _(
        "Only a JPEG or PNG photo or a PDF scan of the card is accepted. This file is none of these."
    ),
    "damaged_image": lambda p: _("The image is damaged or incomplete and cannot be opened."),
    "too_many_pixels": lambda p: (
        _(
            "The image has too many pixels (more than %(limit)s million). Scan at a lower resolution."
        )
        % {"limit": int(p["max_pixels"]) // 1_000_000}
    ),
    "pdf_active_content": lambda p: _(
        "The PDF contains JavaScript or an action that launches a program. Such files are refused: "
        "scan the card again or export it as a plain image."
    ),
    "pdf_encrypted": lambda p: _(
        "The PDF is password-protected or encrypted. Upload an unprotected scan."
    ),
    "pdf_damaged": lambda p: _("The PDF is damaged and cannot be checked."),
    "pdf_too_complex": lambda p: _("The PDF is too large once decompressed. Upload a simple scan."),
}


def _format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return _("%(n)s MB") % {"n": f"{size / (1024 * 1024):g}"}
    return _("%(n)s KB") % {"n": f"{size / 1024:g}"}


def rejection_message(error: documents.DocumentRejected) -> str:
    """What to tell the person who uploaded, in their language."""
    return str(REJECTION_MESSAGES[error.code](error.params))


def read_upload(upload: IO[bytes], max_bytes: int) -> bytes:
    """Read an upload without ever holding more than max_bytes + 1 bytes of it."""
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise documents.DocumentRejected("too_large", {"max_bytes": max_bytes})
    return data


def _user_label(user) -> str:
    return user.get_username() if user is not None else "system"


def upload_cnie_copy(
    candidate: Candidate, upload: IO[bytes], actor, address: str | None
) -> CnieDocument:
    """Check, encrypt and store a new copy of the candidate's CNIE; the previous copy stops
    being current. Raises documents.DocumentRejected (nothing stored) if the file is refused."""
    max_bytes = settings.CNIE_UPLOAD_MAX_BYTES
    data = read_upload(upload, max_bytes)
    content_type = documents.validate_document(
        data, max_bytes, getattr(settings, "CNIE_UPLOAD_MAX_PIXELS", documents.DEFAULT_MAX_PIXELS)
    )
    digest = documents.sha256_hex(data)
    token = documents.encrypt(data, settings.DOCUMENT_KEYS)
    name = default_storage.save(documents.new_storage_name(), ContentFile(token))
    try:
        with transaction.atomic():
            Candidate.objects.select_for_update().filter(pk=candidate.pk).first()
            previous = (
                CnieDocument.objects.filter(candidate=candidate, is_current=True)
                .only("pk", "sha256")
                .first()
            )
            if previous is not None:
                CnieDocument.objects.filter(pk=previous.pk).update(is_current=False)
            document = CnieDocument.objects.create(
                candidate=candidate,
                content_type=content_type,
                size=len(data),
                sha256=digest,
                encrypted_file=name,
                is_current=True,
                uploaded_by=actor,
            )
            DocumentAccess.objects.create(
                document=document,
                user=actor,
                user_label=_user_label(actor),
                action=DocumentAccess.Action.UPLOAD,
                address=address,
            )
            record_changes(
                actor,
                [
                    Change(
                        action="cnie_copy.upload",
                        object_type="cnie_document",
                        object_id=str(document.pk),
                        before=(
                            {"document": previous.pk, "sha256": previous.sha256} if previous else {}
                        ),
                        after={
                            "document": document.pk,
                            "sha256": digest,
                            "content_type": content_type,
                            "size": len(data),
                        },
                        reason="CNIE copy uploaded",
                        candidate_id=candidate.pk,
                    )
                ],
            )
    except BaseException:
        default_storage.delete(name)
        raise
    return document


def current_cnie_copy(candidate: Candidate) -> CnieDocument | None:
    return CnieDocument.objects.filter(candidate=candidate, is_current=True).first()


def read_cnie_copy(candidate: Candidate, viewer, address: str | None) -> tuple[CnieDocument, bytes]:
    """Decrypt the candidate's current copy and log the view. The caller has checked that the
    viewer may see it. Raises DocumentUnavailable if there is none or it cannot be read."""
    document = current_cnie_copy(candidate)
    if document is None:
        raise DocumentUnavailable("no current copy")
    try:
        with default_storage.open(document.encrypted_file, "rb") as handle:
            token = handle.read()
        data = documents.decrypt(token, settings.DOCUMENT_KEYS)
    except (OSError, documents.InvalidToken) as exc:
        raise DocumentUnavailable("the stored copy cannot be read") from exc
    if documents.sha256_hex(data) != document.sha256:
        raise DocumentUnavailable("the stored copy does not match its hash")
    DocumentAccess.objects.create(
        document=document,
        user=viewer,
        user_label=_user_label(viewer),
        action=DocumentAccess.Action.VIEW,
        address=address,
    )
    return document, data


def download_name(candidate: Candidate, document: CnieDocument) -> str:
    return f"cnie-{candidate.massar_code}.{documents.EXTENSIONS.get(document.content_type, 'bin')}"


# -- The file page ----------------------------------------------------------------------------


def _field_labels() -> dict[str, str]:
    labels = {}
    for name in AUDITED_FIELDS:
        field_name = name.removesuffix("_id")
        labels[name] = str(Candidate._meta.get_field(field_name).verbose_name)
    return labels


def _action_labels() -> dict[str, str]:
    return {
        "candidate.update": _("File edited"),
        "import.create": _("File created by an import"),
        "import.update": _("File updated by an import"),
        "cnie_copy.upload": _("CNIE copy uploaded"),
    }


@dataclass
class AuditRow:
    entry: AuditEntry
    action_label: str
    changes: list[tuple[str, Any, Any]]


def audit_history(candidate: Candidate, limit: int = 200) -> list[AuditRow]:
    """The file's audit entries, newest first, each with (field label, before, after) rows."""
    labels = _field_labels()
    actions = _action_labels()
    entries = AuditEntry.objects.filter(candidate_id=candidate.pk).order_by("-sequence")[:limit]
    rows = []
    for entry in entries:
        keys = list(dict.fromkeys([*entry.before, *entry.after]))
        rows.append(
            AuditRow(
                entry,
                actions.get(entry.action, entry.action),
                [(labels.get(k, k), entry.before.get(k, ""), entry.after.get(k, "")) for k in keys],
            )
        )
    return rows


@dataclass
class SourceRow:
    source: IdentitySource
    values: list[tuple[str, Any]]


def identity_sources(candidate: Candidate) -> list[SourceRow]:
    """What each identity source says, with the file's field labels where the keys match."""
    labels = {name.removesuffix("_id"): label for name, label in _field_labels().items()}
    return [
        SourceRow(source, [(labels.get(k, k), v) for k, v in source.data.items()])
        for source in IdentitySource.objects.filter(candidate_id=candidate.pk).order_by("kind")
    ]


def document_accesses(candidate: Candidate, limit: int = 200) -> QuerySet:
    return DocumentAccess.objects.filter(document__candidate_id=candidate.pk).select_related(
        "document"
    )[:limit]

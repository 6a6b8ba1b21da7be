"""The register of personal data: what is held, why, on what legal basis, who may see it, how
long it is kept, and the functions that purge it when its time is up and export it for the
candidate it concerns (law 09-08: collect only what is needed, say why, keep it no longer
than needed, let people see what is held about them).

No model is imported here, so any app may import this module from its AppConfig.ready()
whatever the order of INSTALLED_APPS.

How an app declares its data
----------------------------

From the app's ``AppConfig.ready()`` (import the functions there, not at module level)::

    from django.utils.translation import gettext_lazy as _
    from privacy.register import data_kind

    def ready(self):
        from . import privacy_hooks  # the purger and exporter functions, below

        data_kind(
            "complaints.answer_sheet_scan",            # "<app>.<kind>", unique
            label=_("Scans of answer sheets"),
            fields=_("scanned pages of the answer sheet under complaint"),
            purpose=_("Re-examine a grade the candidate complains about"),
            legal_basis=_("Public task (organisation of the baccalaureate exam)"),
            recipients=_("The candidate; the academy's complaint committee"),
            retention=_("One year after the complaint is decided"),
            retention_days=365,                        # None: no automatic purge
            concerns_candidate=True,                   # then an exporter is required
            purger=privacy_hooks.purge_scans,
            exporter=privacy_hooks.export_scans,
            models=("complaints.Complaint",),          # the models holding this data
        )

* ``purger(cutoff, dry_run) -> int``: delete or anonymise what is older than ``cutoff``
  (``now - retention_days``; the command passes the time, so tests freeze it), return how many
  records were (or, with ``dry_run``, would be) purged, and change nothing when ``dry_run`` is
  true. Delete stored files too. A purger that touches a candidate's documents records each
  removal with ``audit.services.record_changes`` (``candidate_id`` set) so that the candidate
  sees it in the history of their file; ``manage.py purge_expired`` adds one summary entry per
  kind (action ``privacy.purge``) for every purger.
* ``exporter(candidate, actor, address) -> Export``: everything of that kind about the
  candidate, as JSON-ready ``records`` (dates as ISO strings) and ``files`` (name in the ZIP
  -> bytes, decrypted: it is their own data). ``actor`` is the candidate; log document reads
  as the app's own read path does. Anything not JSON-ready is written with ``str()``.
* ``models``: the models (``"app_label.ModelName"``) that hold this kind of data. A model may be
  named by several kinds (a complaint holds the complaint, its comment and its scan), and a kind
  may span several models. tests/privacy/test_register.py fails if a model with a foreign key
  (or one-to-one field) to candidates.Candidate is named by no kind, so a new model holding a
  candidate's data cannot be left out of the register by mistake.

The export test (tests/privacy/test_export.py) fails if a kind that concerns a candidate has no
exporter or does not appear in the export; the register test fails if a kind with a retention
period has no purger.

What the other apps add (wired in by their owners or the lead), each from its AppConfig.ready():

* complaints: ``complaints.answer_sheet_scan`` (the scans attached to complaints.Complaint,
  with their complaints.ScanAccess log; purger: delete the scan file, blank the field and audit
  per complaint, a year after the decision; exporter: the decrypted scans of the candidate's own
  complaints) and ``complaints.complaint`` (the complaint and its decision; exported, kept);
* scholarships: ``scholarships.document`` (scholarships.ApplicationDocument: income and family
  documents; purger: delete files and rows after the scholarship year, audited per
  application; exporter: the decrypted documents), ``scholarships.application`` (the
  application, scholarships.HouseholdMember and scholarships.StatusEvent; exported, kept);
* sharing: ``sharing.view_log`` (sharing.ShareView: who opened a diploma share link and when;
  purger: delete rows older than 90 days; exporter: the holder's views, so they see who
  looked) and ``sharing.share_link`` (sharing.ShareLink; exported);
* diplomas: ``diplomas.diploma`` (diplomas.Diploma with its revocation or replacement, and
  diplomas.Refusal: why no diploma could be issued; exported with the stored faces, kept
  permanently).

Consent topics (privacy.models.Consent) are registered the same way with ``consent_topic``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


@dataclass
class Export:
    """One kind's share of a candidate's export."""

    records: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


Purger = Callable[[datetime.datetime, bool], int]
Exporter = Callable[[Any, Any, "str | None"], Export]


@dataclass(frozen=True)
class DataKind:
    """One kind of personal data, as the privacy page shows it."""

    key: str
    label: Any
    fields: Any
    purpose: Any
    legal_basis: Any
    recipients: Any
    retention: Any
    retention_days: int | None = None
    concerns_candidate: bool = True
    purger: Purger | None = None
    exporter: Exporter | None = None
    # "app_label.ModelName" of each model holding this kind of data (see the module docstring).
    models: tuple[str, ...] = ()

    @property
    def app(self) -> str:
        return self.key.split(".", 1)[0]

    def effective_retention_days(self) -> int | None:
        """The retention period, overridable per kind by PRIVACY_RETENTION_DAYS in settings."""
        overrides = getattr(settings, "PRIVACY_RETENTION_DAYS", {}) or {}
        return overrides.get(self.key, self.retention_days)


@dataclass(frozen=True)
class ConsentTopic:
    """A choice the candidate makes about their data. `changeable` is false when the law
    decides rather than the candidate (the page then says why)."""

    key: str
    label: Any
    help_text: Any
    default: bool
    changeable: bool = True


_KINDS: dict[str, DataKind] = {}
_TOPICS: dict[str, ConsentTopic] = {}


def data_kind(
    key: str,
    *,
    label: Any,
    fields: Any,
    purpose: Any,
    legal_basis: Any,
    recipients: Any,
    retention: Any,
    retention_days: int | None = None,
    concerns_candidate: bool = True,
    purger: Purger | None = None,
    exporter: Exporter | None = None,
    models: Iterable[str] = (),
) -> DataKind:
    """Declare a kind of personal data (see the module docstring). Declaring the same key
    again replaces it, so that a reloaded AppConfig does not fail."""
    if "." not in key:
        raise ValueError(f"a data kind is named '<app>.<kind>', not {key!r}")
    if retention_days is not None and retention_days < 0:
        raise ValueError("retention_days cannot be negative")
    # Checked for shape only: the apps may not all be loaded yet (the register test checks
    # that each name is a real model).
    models = tuple(models)
    for name in models:
        if name.count(".") != 1:
            raise ValueError(f"a model is named 'app_label.ModelName', not {name!r}")
    kind = DataKind(
        key=key,
        label=label,
        fields=fields,
        purpose=purpose,
        legal_basis=legal_basis,
        recipients=recipients,
        retention=retention,
        retention_days=retention_days,
        concerns_candidate=concerns_candidate,
        purger=purger,
        exporter=exporter,
        models=models,
    )
    _KINDS[key] = kind
    return kind


def consent_topic(
    key: str, *, label: Any, help_text: Any, default: bool, changeable: bool = True
) -> ConsentTopic:
    """Declare a consent topic shown on the candidate's privacy page."""
    topic = ConsentTopic(key, label, help_text, default, changeable)
    _TOPICS[key] = topic
    return topic


def kinds() -> list[DataKind]:
    """Every declared kind, grouped by app in declaration order."""
    return list(_KINDS.values())


def kind(key: str) -> DataKind:
    return _KINDS[key]


def candidate_kinds() -> list[DataKind]:
    return [k for k in _KINDS.values() if k.concerns_candidate]


def topics() -> list[ConsentTopic]:
    return list(_TOPICS.values())


def topic(key: str) -> ConsentTopic:
    return _TOPICS[key]

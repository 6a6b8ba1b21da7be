"""What the candidate reads, on the history page of their file, for each audit action
(audit.models.AuditEntry.action). The strings are in the project's catalogue (locale/); an
action without a label here is shown by its name, so a new action is never hidden."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    # sharing: the holder's diploma and its share links
    "diploma_downloaded": _("Diploma downloaded"),
    "share_link_created": _("Diploma share link created"),
    "share_link_revoked": _("Diploma share link revoked"),
    # scholarships: the application, its documents and decisions
    "scholarships.start": _("Scholarship application started"),
    "scholarships.save_step": _("Scholarship application: step saved"),
    "scholarships.add_member": _("Scholarship application: household member added"),
    "scholarships.remove_member": _("Scholarship application: household member removed"),
    "scholarships.upload_document": _("Scholarship application: document uploaded"),
    "scholarships.view_document": _("Scholarship supporting document viewed"),
    "scholarships.submit": _("Scholarship application submitted"),
    "scholarships.results_recheck": _("Scholarship application checked against the bac result"),
    "scholarships.appeal": _("Scholarship appeal filed"),
    "scholarships.decide": _("Scholarship decision"),
    "scholarships.decide_appeal": _("Scholarship appeal decided"),
    "scholarships.purge_documents": _(
        "Scholarship supporting documents deleted (retention period over)"
    ),
}


def action_label(action: str) -> str:
    """The label of an audit action, translated; the action's own name when it has none."""
    return str(ACTION_LABELS.get(action, action))

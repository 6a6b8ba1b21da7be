"""What each kind of notification says, in every language.

A kind has an SMS text, an e-mail subject and e-mail paragraphs, all translatable, with
%(name)s-style placeholders filled from a context (`url` and `name` are always there). Texts
never carry the result, the decision or any grade: a message may be read on a shared phone or a
lock screen, so it only says that something changed and where to see it once signed in.

Other services register their own kinds with `register_kind` (from their AppConfig.ready or at
import time of their services module).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")


class UnknownKind(ValueError):
    pass


@dataclass(frozen=True)
class MessageKind:
    name: str
    sms: str | Promise
    subject: str | Promise
    paragraphs: tuple[str | Promise, ...]
    # Where the candidate sees the news, unless the context gives its own `url`.
    url_name: str = "portal:home"
    # What staff see in the delivery pages.
    label: str | Promise = ""


@dataclass(frozen=True)
class RenderedTexts:
    """A kind's texts translated into one language, still with their placeholders."""

    sms: str
    subject: str
    body: str

    def fill(self, context: Mapping[str, object]) -> tuple[str, str, str]:
        return self.sms % context, self.subject % context, self.body % context


_KINDS: dict[str, MessageKind] = {}


def register_kind(
    name: str,
    *,
    sms: str | Promise,
    subject: str | Promise,
    paragraphs: tuple[str | Promise, ...],
    url_name: str = "portal:home",
    label: str | Promise = "",
) -> MessageKind:
    """Declare a kind of notification. Registering the same name again replaces it."""
    if not KIND_RE.fullmatch(name):
        raise ValueError(f"a notification kind is lower-case letters, digits and _: {name!r}")
    kind = MessageKind(name, sms, subject, tuple(paragraphs), url_name, label or name)
    _KINDS[name] = kind
    return kind


def get_kind(name: str) -> MessageKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownKind(f"no notification kind {name!r} is registered") from None


def kinds() -> dict[str, MessageKind]:
    return dict(_KINDS)


def label_of(name: str) -> str | Promise:
    kind = _KINDS.get(name)
    return kind.label if kind else name


def texts_in(kind: MessageKind, language: str) -> RenderedTexts:
    """The kind's texts in `language`, placeholders left in."""
    with translation.override(language):
        paragraphs = [
            str(_("Hello %(name)s,")),
            *(str(p) for p in kind.paragraphs),
            str(_("This message was sent automatically: do not reply to it.")),
            str(_("Bac e-Services, Ministry of National Education")),
        ]
        return RenderedTexts(
            sms=str(kind.sms), subject=str(kind.subject), body="\n\n".join(paragraphs)
        )


# The kinds the platform ships with. A result, a decision or an amount is never in the text.
register_kind(
    "results_published",
    label=_("Results published"),
    sms=_("Bac e-Services: your baccalaureate results are published. See them at %(url)s"),
    subject=_("Your baccalaureate results are published"),
    paragraphs=(
        _("Your baccalaureate results are published."),
        _("Sign in to see them at %(url)s"),
    ),
)
register_kind(
    "results_updated",
    label=_("Results updated"),
    sms=_("Bac e-Services: your baccalaureate results have been updated. See them at %(url)s"),
    subject=_("Your baccalaureate results have been updated"),
    paragraphs=(
        _("Your baccalaureate results have been updated."),
        _("Sign in to see them at %(url)s"),
    ),
)
register_kind(
    "complaint_decided",
    label=_("Complaint decided"),
    sms=_("Bac e-Services: a decision has been taken on your complaint. See it at %(url)s"),
    subject=_("A decision has been taken on your complaint"),
    paragraphs=(
        _("The academy has taken a decision on your complaint about your results."),
        _("Sign in to see it at %(url)s"),
    ),
)
register_kind(
    "scholarship_status",
    label=_("Scholarship status changed"),
    sms=_("Bac e-Services: your scholarship application has a new status. See it at %(url)s"),
    subject=_("Your scholarship application has a new status"),
    paragraphs=(
        _("The status of your scholarship application has changed."),
        _("Sign in to see it at %(url)s"),
    ),
)
register_kind(
    "diploma_issued",
    label=_("Diploma issued"),
    sms=_("Bac e-Services: your digital diploma is ready. See it at %(url)s"),
    subject=_("Your digital diploma is ready"),
    paragraphs=(
        _("Your digital baccalaureate diploma has been issued."),
        _("Sign in to see, download and share it at %(url)s"),
    ),
)

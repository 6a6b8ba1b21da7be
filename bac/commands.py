"""What the import commands share: reading the file argument and finding the session."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from exams.models import ExamSession


def read_file_argument(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(
            _("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror}
        ) from None


def session_by_code(code: str) -> ExamSession:
    session = ExamSession.objects.filter(code=code).first()
    if session is None:
        raise CommandError(_("There is no session with the code %(code)s.") % {"code": code})
    return session

"""Shared set-up for the convocation tests: keys of their own, an open convocation window, a
centre, and `ready(candidate)` which makes a file eligible (verified, CNIE, centre and room)."""

import datetime
import io

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from candidates.models import CnieDocument, VerificationStatus
from tests.factories import ExamCentreFactory, SessionWindowFactory


@pytest.fixture(autouse=True)
def _own_keys(settings, tmp_path):
    """Each test signs with keys generated on first use in a fresh KEYS_DIR."""
    settings.KEYS_DIR = tmp_path / "keys"
    settings.CONVOCATION_SIGNING_KEY = ""
    settings.CONVOCATION_EXTRA_PUBLIC_KEYS = ()


@pytest.fixture
def convocation_window(session):
    return SessionWindowFactory(session=session, kind="convocation")


@pytest.fixture
def centre(school):
    return ExamCentreFactory(
        directorate=school.directorate,
        code="C-RABAT-01",
        name_fr="Centre d'examen Lycée Ibn Sina",
        name_ar="مركز الامتحان ثانوية ابن سينا",
    )


def jpeg(color=(120, 140, 160)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def ready(centre):
    """`ready(candidate, photo=False)`: a verified file with a CNIE copy, a centre and room."""

    def make(candidate, photo: bool = False, room: str = "03"):
        CnieDocument.objects.create(
            candidate=candidate,
            content_type="image/jpeg",
            size=10,
            sha256="0" * 64,
            encrypted_file="cnie/test.bin",
            is_current=True,
        )
        candidate.verification_status = VerificationStatus.CONFIRMED
        candidate.verified_at = timezone.now() - datetime.timedelta(days=1)
        candidate.exam_centre = centre
        candidate.exam_room = room
        if photo:
            candidate.photo.save("photo.jpg", ContentFile(jpeg()), save=False)
        candidate.save()
        return candidate

    return make

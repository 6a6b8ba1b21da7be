"""The PDF, read back by a PDF library: both scripts present, Arabic shaped and in logical
order (the text extracted is the text of the file), the photo, the timetable, the fonts."""

import datetime
import io

import pytest
from django.utils import timezone
from pypdf import PdfReader

from convocations import services
from convocations.models import ExamSlot
from exams.models import Subject


@pytest.fixture
def slots(candidate_a):
    start = timezone.make_aware(datetime.datetime(2026, 6, 8, 8, 0))
    math, _ = Subject.objects.get_or_create(
        code="MATH", defaults={"name_fr": "Mathématiques", "name_ar": "الرياضيات"}
    )
    philo, _ = Subject.objects.get_or_create(
        code="PHILO", defaults={"name_fr": "Philosophie", "name_ar": "الفلسفة"}
    )
    ExamSlot.objects.create(
        session=candidate_a.session,
        track=candidate_a.track,
        subject=math,
        starts_at=start,
        duration_minutes=240,
    )
    ExamSlot.objects.create(
        session=candidate_a.session,
        track=candidate_a.track,
        subject=philo,
        component="regional",
        starts_at=start + datetime.timedelta(days=1, hours=5, minutes=30),
        duration_minutes=150,
    )


def render(candidate) -> PdfReader:
    convocation = services.issue_convocation(candidate, check_gate=False)
    return PdfReader(io.BytesIO(services.convocation_pdf(convocation)))


def text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_arabic_name_is_extracted_in_logical_order(candidate_a, ready, slots):
    ready(candidate_a)
    extracted = text(render(candidate_a))
    lines = extracted.splitlines()
    # Shaped glyphs map back to the letters, right to left reads back in reading order.
    assert "محمد العمراني" in lines
    assert "استدعاء لاجتياز امتحانات البكالوريا" in lines
    assert "العمراني" in extracted and "الرباط" in extracted
    # The visual order (reversed letters) must not be what a reader or a search finds.
    assert "ينارمعلا" not in extracted


def test_the_french_text_is_present(candidate_a, ready, slots):
    ready(candidate_a)
    extracted = text(render(candidate_a))
    for expected in (
        "Convocation aux examens du",
        "Mohammed EL AMRANI",
        "Né(e) le",
        "14/03/2008 à Rabat",
        "Calendrier des épreuves",
        "Consignes",
        "Mathématiques",
        "Philosophie (régional)",
    ):
        assert expected in extracted, expected


def test_the_pdf_prints_numbers_centre_room_and_the_timetable(candidate_a, ready, slots):
    ready(candidate_a, room="12")
    extracted = text(render(candidate_a))
    assert "R130000001" in extracted
    assert candidate_a.cnie_number in extracted
    assert "C-RABAT-01" in extracted
    assert "Centre d'examen Lycée Ibn Sina" in extracted
    assert "مركز الامتحان ثانوية ابن سينا" in extracted
    assert "lun. 08/06/2026 08:00 4 h Mathématiques" in extracted
    assert "mar. 09/06/2026 13:30 2 h 30 Philosophie" in extracted
    assert "الرياضيات" in extracted and "الفلسفة" in extracted
    assert "2026-N-R130000001-01" in extracted


def test_the_rules_are_printed_in_both_languages(candidate_a, ready):
    ready(candidate_a)
    extracted = text(render(candidate_a))
    assert "30 minutes avant le" in extracted
    assert "يمنع إدخال الهواتف والساعات الذكية وكل جهاز إلكتروني إلى قاعة الامتحان" in extracted


def test_without_a_timetable_the_pdf_says_it_comes_later(candidate_a, ready):
    ready(candidate_a)
    assert "Le calendrier sera publié prochainement." in text(render(candidate_a))


def images(reader: PdfReader) -> list:
    return [image for page in reader.pages for image in page.images]


def test_the_photo_is_printed_when_the_file_has_one(candidate_a, ready):
    ready(candidate_a, photo=True)
    assert len(images(render(candidate_a))) == 1


def test_a_placeholder_box_stands_in_for_a_missing_photo(candidate_a, ready):
    ready(candidate_a)
    reader = render(candidate_a)
    assert images(reader) == []
    assert "Photo" in text(reader) and "الصورة" in text(reader)


def test_the_fonts_are_embedded_from_the_repository(candidate_a, ready):
    ready(candidate_a)
    reader = render(candidate_a)
    fonts = reader.pages[0]["/Resources"]["/Font"]
    names = {str(fonts[key].get_object()["/BaseFont"]).split("+", 1)[1] for key in fonts}
    assert names == {"DejaVuSansBook", "DejaVuSansBold", "NotoNaskhArabic", "NotoNaskhArabicBold"}
    for key in fonts:
        descendant = fonts[key].get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"]


def test_the_pdf_stays_small_for_a_phone(candidate_a, ready):
    ready(candidate_a, photo=True)
    convocation = services.issue_convocation(candidate_a, check_gate=False)
    assert len(services.convocation_pdf(convocation)) < 150_000


def test_names_longer_than_their_box_are_shortened_not_spilled(candidate_a, ready):
    candidate_a.school.name_fr = "Lycée qualifiant " + "Abdelkrim Al Khattabi " * 4
    candidate_a.school.save()
    ready(candidate_a)
    extracted = text(render(candidate_a))
    assert "Lycée qualifiant Abdelkrim" in extracted and "…" in extracted

"""Reading the zone from card images rendered with the OCR-B font, with Debian's tesseract.

Without tesseract-ocr or fonts-ocr-b these tests skip with a message saying what to install,
except under CI=true, where a missing tool fails the run.
"""

from __future__ import annotations

import datetime
import io
import os
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from identity.mrz import build_td1, build_td3
from identity.ocr import (
    CHECK_DIGITS_FAIL,
    NO_ZONE_FOUND,
    NOT_AN_IMAGE,
    OcrUnavailable,
    estimate_skew,
    read_mrz_image,
    tesseract_command,
    zone_candidates,
)
from tests.identity.cards import cnie_card_zone

TODAY = datetime.date(2026, 6, 1)
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
)
FONT = next((path for path in FONT_CANDIDATES if Path(path).exists()), None)
INSTALL = "apt-get install tesseract-ocr fonts-ocr-b"


def _missing() -> str | None:
    if tesseract_command() is None:
        return f"tesseract is not installed ({INSTALL})"
    if FONT is None:
        return f"the OCR-B font is not installed ({INSTALL})"
    return None


@pytest.fixture
def ocr_tools():
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI requires OCR: {reason}")
    pytest.skip(f"OCR test skipped: {reason}")


@pytest.fixture
def font_only():
    if FONT is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires the OCR-B font ({INSTALL})")
        pytest.skip(f"OCR-B font missing ({INSTALL})")


def render_card(
    lines: tuple[str, ...],
    *,
    width: int = 1012,
    angle: float = 0.0,
    noise: float = 0.0,
    scale: float = 1.0,
    fmt: str = "PNG",
    seed: int = 1,
) -> bytes:
    """A synthetic ID-1 card (85.6 × 54 mm) with a photo box, a header and its zone at the
    bottom in OCR-B; then rotated, speckled, shrunk and encoded as asked."""
    height = round(width * 54 / 85.6) if len(lines) == 3 else round(width * 88 / 125)
    image = Image.new("L", (width, height), 232)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, width // 4, height // 2), fill=170)
    header = ImageFont.truetype(FONT, round(width * 0.03))
    draw.text((width // 3, 50), "ROYAUME DU MAROC", font=header, fill=40)
    draw.text((width // 3, 100), "CARTE NATIONALE D'IDENTITE", font=header, fill=40)
    size = round(width * (0.040 if len(lines[0]) == 30 else 0.029))
    font = ImageFont.truetype(FONT, size)
    step = round(size * 1.35)
    y = height - step * len(lines) - round(width * 0.03)
    for line in lines:
        draw.text((round(width * 0.04), y), line, font=font, fill=15)
        y += step
    if noise:
        rng = random.Random(seed)
        pixels = image.load()
        for _ in range(round(width * height * noise)):
            pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 255))
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if scale != 1.0:
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 70} if fmt == "JPEG" else {}))
    return buffer.getvalue()


CARD = build_td1(
    "LA7766554",
    datetime.date(2008, 3, 14),
    "M",
    datetime.date(2034, 3, 14),
    "El Amrani",
    "Mohammed Amine",
    optional_data_1="BE123456",
)


def _assert_card_read(reading) -> None:
    assert reading.readable, (reading.reason, reading.text)
    result = reading.result
    assert result.lines == CARD
    assert result.cnie_number() == "BE123456"
    assert result.document_number == "LA7766554"
    assert result.birth_date == datetime.date(2008, 3, 14)
    assert (result.surname, result.given_names) == ("EL AMRANI", "MOHAMMED AMINE")


def test_it_reads_a_clean_card_scan(ocr_tools):
    _assert_card_read(read_mrz_image(render_card(CARD), today=TODAY))


@pytest.mark.parametrize("angle", [2.0, 2.5, -3.0])
def test_it_reads_a_card_photographed_a_few_degrees_askew(ocr_tools, angle):
    reading = read_mrz_image(render_card(CARD, angle=angle), today=TODAY)
    _assert_card_read(reading)
    assert abs(reading.angle + angle) <= 1.0


def test_it_reads_a_card_speckled_with_noise(ocr_tools):
    _assert_card_read(read_mrz_image(render_card(CARD, noise=0.04, seed=7), today=TODAY))


def test_it_reads_a_small_low_resolution_jpeg(ocr_tools):
    data = render_card(CARD, scale=0.35, fmt="JPEG")
    with Image.open(io.BytesIO(data)) as image:
        assert image.width < 400
    _assert_card_read(read_mrz_image(data, today=TODAY))


def test_it_reads_a_skewed_low_resolution_jpeg(ocr_tools):
    _assert_card_read(
        read_mrz_image(render_card(CARD, scale=0.45, angle=-2.0, fmt="JPEG"), today=TODAY)
    )


@pytest.mark.parametrize("cnie", [f"BE{n}" for n in range(100_000, 100_050)])
def test_it_reads_cards_whatever_their_check_digits(ocr_tools, cnie):
    """One card in ten has a composite check digit 1 at the end of a run of fillers, which
    tesseract reads as one more filler; every one of these cards must still be read."""
    card = cnie_card_zone(cnie)
    reading = read_mrz_image(render_card(card), today=TODAY)
    assert reading.readable, (card, reading.reason, reading.text)
    assert reading.result.lines == card and reading.result.cnie_number() == cnie


def test_it_reads_a_passport_page(ocr_tools):
    zone = build_td3(
        "X1234567",
        datetime.date(2005, 1, 2),
        "F",
        datetime.date(2030, 1, 1),
        "Diallo",
        "Aminata",
        issuing_state="SEN",
        nationality="SEN",
        personal_number="1234567890",
    )
    reading = read_mrz_image(render_card(zone, width=1250), today=TODAY)
    assert reading.readable, (reading.reason, reading.text)
    assert reading.result.format == "TD3"
    assert reading.result.lines == zone


def test_an_image_that_is_not_a_card_is_not_readable(ocr_tools):
    rng = random.Random(3)
    image = Image.new("RGB", (900, 600), (90, 140, 200))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(900), rng.randrange(600)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 200)), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    reading = read_mrz_image(buffer.getvalue(), today=TODAY)
    assert not reading.readable
    assert reading.result is None
    assert reading.reason == NO_ZONE_FOUND


def test_a_card_whose_printed_check_digit_is_wrong_is_not_readable(ocr_tools):
    line1, line2, line3 = CARD
    wrong = line2[:6] + str((int(line2[6]) + 1) % 10) + line2[7:]  # the birth date's digit
    reading = read_mrz_image(render_card((line1, wrong, line3)), today=TODAY)
    assert not reading.readable
    assert reading.reason == CHECK_DIGITS_FAIL
    assert (line1, wrong, line3) in reading.candidates


def test_bytes_that_are_not_an_image_are_not_readable(ocr_tools):
    reading = read_mrz_image(b"%PDF-1.7 not an image at all", today=TODAY)
    assert (reading.readable, reading.reason, reading.attempts) == (False, NOT_AN_IMAGE, 0)


def test_a_missing_tesseract_says_what_to_install(monkeypatch):
    monkeypatch.setenv("TESSERACT_CMD", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable, match="apt-get install tesseract-ocr"):
        read_mrz_image(b"\x89PNG\r\n\x1a\n")


# -- Without tesseract: finding the zone in OCR text and the skew ----------------------------


def test_zone_lines_are_found_among_other_text_with_spaces_removed():
    text = "ROYAUME DU MAROC\n\n" + "\n".join(" ".join(line[:10]) + line[10:] for line in CARD)
    assert zone_candidates(text)[0] == CARD


def test_a_filler_read_as_k_inside_a_run_of_fillers_is_cleaned():
    line1, line2, line3 = CARD
    text = "\n".join((line1[:-3] + "<K<", line2, line3[:-2] + "K<"))
    assert CARD in zone_candidates(text)


def test_a_filler_lost_or_added_by_ocr_is_put_back():
    line1, line2, line3 = CARD
    text = "\n".join((line1[:-1], line2[:20] + "<" + line2[20:], line3))
    assert CARD in zone_candidates(text)


def test_lines_of_other_lengths_are_not_candidates():
    assert zone_candidates("I<MAR\nSHORT<<LINE\n" + "<" * 36) == []


def test_the_skew_of_a_rotated_card_is_estimated(font_only):
    with Image.open(io.BytesIO(render_card(CARD, angle=2.5))) as image:
        assert abs(estimate_skew(image.convert("L")) + 2.5) <= 0.5

"""Reading the machine-readable zone from an uploaded card image, with Debian's tesseract-ocr.

No Django import: the caller passes the limits. The image is prepared with Pillow (grayscale,
autocontrast, small images upscaled and large ones reduced, the skew estimated from the text
rows and undone, the bottom band where the zone sits cropped), then `tesseract` reads it (psm 6,
a whitelist of the zone's alphabet) at a few sizes, as hOCR with a box for every character.

Tesseract's usual slips on OCR-B are fillers ('<') dropped, doubled or read as K, and O read
as Q. Each reading is therefore rebuilt on the zone's fixed pitch (every character in the cell
its centre falls in, an empty cell is a filler), look-alike characters are settled against the
font's shapes when fonts-ocr-b is installed, and text after the end of the names is filler.
Candidate lines are picked by length (30 for a card, 44 for a passport) and pattern; **check
digits decide whether a reading is kept**, and reading stops when two readings agree on the
whole zone (names have no check digit: agreement is their evidence). When no reading passes,
the result is "not readable", with a reason, and a clerk types the zone instead.
"""

from __future__ import annotations

import datetime
import functools
import html
import io
import os
import re
import shutil
import subprocess  # noqa: S404  (a fixed program with fixed arguments, the image on stdin)
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from .mrz import LINE_LENGTHS, TD1, TD3, MrzError, MrzResult, parse_mrz

WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_TIMEOUT = 30.0
# Images are brought into this range of widths before the skew is estimated; the zone is then
# read at a few widths, where tesseract's LSTM sees the OCR-B characters 20 to 35 pixels high.
TARGET_WIDTH = 1000
MAX_WIDTH = 2400
READING_WIDTHS = (800, 600, 1000)
# The angles tried after the estimated one, in degrees.
FALLBACK_ANGLES = (0.0, -1.5, 1.5, -3.0, 3.0)
# At most this many ways of fitting one group of OCR lines to the zone's shape are tried.
MAX_GROUPS = 400

_SPACE = re.compile(r"\s+")
_ZONE_LINE = re.compile(r"[A-Z0-9<]{20,60}")

# Reasons for "not readable", stable codes for translated messages.
NOT_AN_IMAGE = "not_an_image"
TOO_MANY_PIXELS = "too_many_pixels"
NO_ZONE_FOUND = "no_zone_found"
CHECK_DIGITS_FAIL = "check_digits_fail"
OCR_FAILED = "ocr_failed"


class OcrUnavailable(RuntimeError):
    """The tesseract program is not installed (Debian: apt-get install tesseract-ocr)."""


@dataclass(frozen=True)
class MrzReading:
    """The outcome of reading a zone from an image. `result` is set only when every check digit
    of the zone passed; otherwise `reason` says why, and `text` holds what OCR read last."""

    result: MrzResult | None
    reason: str = ""
    attempts: int = 0
    angle: float = 0.0
    text: str = ""
    candidates: tuple[tuple[str, ...], ...] = field(default=())
    # How many readings gave exactly this zone: names have no check digit, and a zone read
    # once only deserves a closer look by the clerk.
    agreeing: int = 0

    @property
    def readable(self) -> bool:
        return self.result is not None


def tesseract_command() -> str | None:
    """The tesseract program to run (TESSERACT_CMD, else the one on PATH), or None."""
    configured = os.environ.get("TESSERACT_CMD")
    if configured:
        return configured if shutil.which(configured) else None
    return shutil.which("tesseract")


def run_tesseract(
    image: Image.Image, *, timeout: float = DEFAULT_TIMEOUT, hocr: bool = False
) -> str:
    """What tesseract reads in `image` (one uniform block, the zone's alphabet only): plain
    text, or hOCR with a box and a confidence for every character."""
    command = tesseract_command()
    if command is None:
        raise OcrUnavailable("tesseract is not installed (apt-get install tesseract-ocr)")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    completed = subprocess.run(  # noqa: S603
        [
            command,
            "stdin",
            "stdout",
            "-l",
            "eng",
            "--psm",
            "6",
            "-c",
            f"tessedit_char_whitelist={WHITELIST}",
            "-c",
            "load_system_dawg=0",
            "-c",
            "load_freq_dawg=0",
            *(["-c", "hocr_char_boxes=1", "hocr"] if hocr else []),
        ],
        input=buffer.getvalue(),
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    if completed.returncode != 0:
        raise OSError(completed.stderr.decode("utf-8", "replace").strip() or "tesseract failed")
    return completed.stdout.decode("utf-8", "replace")


# -- Finding the zone in OCR text -------------------------------------------------------------


def _names_position(fmt: str) -> tuple[int, int]:
    """(line index, first column) of the names field."""
    return (2, 0) if fmt == TD1 else (0, 5)


# The characters whose check-digit value is 0 modulo 10, like the filler's: a filler misread as
# one of them goes unnoticed by every check digit, so they are cleaned where only fillers can be.
_SILENT = "KAU0"
_STRAY = re.compile(rf"(?<=<<)[{_SILENT}](?=<|$)|(?<=<)[{_SILENT}](?=<<|$)")


def _clean_fillers(line: str) -> str:
    """A K, A, U or 0 standing alone inside a run of fillers (or ending one) is a filler."""
    return _STRAY.sub("<", line)


_NAME_END = re.compile(r"^(<*[A-Z][A-Z<]*?<<[A-Z]+(?:<[A-Z]+)*)<<.*$")


def _clean_names(field: str) -> str:
    """Names end with the first two fillers after the given names: what follows is filler."""
    match = _NAME_END.match(field)
    if match is None:
        return field
    kept = match.group(1)
    return kept + "<" * (len(field) - len(kept))


def _fit(line: str, length: int) -> Iterator[str]:
    """`line` brought to `length`: as it is; or, when OCR added or lost one or two characters
    inside runs of fillers, with them removed or fillers added back there."""
    if len(line) == length:
        yield line
        return
    difference = length - len(line)
    if abs(difference) > 2:
        return
    if difference > 0:
        # Lost fillers: add them to one run of fillers (every place in a run gives one line).
        runs = {match.start() for match in re.finditer(r"<+", line)}
        for start in sorted(runs, reverse=True):
            yield line[:start] + "<" * difference + line[start:]
        return
    # Extra characters: drop them where they touch a filler.
    produced: set[str] = set()
    positions = [
        i
        for i, char in enumerate(line)
        if (i > 0 and line[i - 1] == "<") or (i + 1 < len(line) and line[i + 1] == "<")
    ]
    for i in reversed(positions):
        shorter = line[:i] + line[i + 1 :]
        if -difference == 1:
            if shorter not in produced:
                produced.add(shorter)
                yield shorter
        else:
            for candidate in _fit(shorter, length):
                if candidate not in produced:
                    produced.add(candidate)
                    yield candidate


def _line_options(line: str, length: int, names_from: int | None) -> list[str]:
    """The ways of reading one OCR line as a zone line of `length`, the most likely first."""
    if names_from is not None:
        # Names carry no check digit: what follows their end is filler whatever OCR saw.
        line = line[:names_from] + _clean_names(line[names_from:])
        if len(line) > length and line[length:].strip("<") == "":
            line = line[:length]
    options: list[str] = []
    for choice in _fit(line, length):
        for cleaned in (_clean_fillers(choice), choice):
            if names_from is not None:
                cleaned = cleaned[:names_from] + _clean_names(cleaned[names_from:])
            if cleaned not in options:
                options.append(cleaned)
    return options


def zone_candidates(text: str) -> list[tuple[str, ...]]:
    """Groups of consecutive OCR lines that could be a TD1 (3 × 30) or TD3 (2 × 44) zone,
    each line fitted to its length, the most likely first (the lowest on the image)."""
    lines = [_SPACE.sub("", line).upper() for line in text.splitlines()]
    lines = [line for line in lines if _ZONE_LINE.fullmatch(line)]
    groups: list[tuple[str, ...]] = []
    for fmt, count in ((TD1, 3), (TD3, 2)):
        length = LINE_LENGTHS[fmt]
        names_line, names_from = _names_position(fmt)
        for start in range(len(lines) - count, -1, -1):
            window = lines[start : start + count]
            if not all(
                length - 2 <= len(line) <= length + (8 if i == names_line else 2)
                for i, line in enumerate(window)
            ):
                continue
            options: list[list[str]] = [[]]
            for i, line in enumerate(window):
                fitted = _line_options(line, length, names_from if i == names_line else None)
                options = [prefix + [choice] for prefix in options for choice in fitted]
                if len(options) > MAX_GROUPS:
                    options = options[:MAX_GROUPS]
            for option in options:
                group = tuple(option)
                if group not in groups:
                    groups.append(group)
    return groups


# -- Character boxes: snapping a line to the zone's fixed pitch -----------------------------


@dataclass(frozen=True)
class Glyph:
    """One character tesseract read, with its box (pixels) and confidence (0-100)."""

    char: str
    left: int
    top: int
    right: int
    bottom: int
    confidence: float

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2


_HOCR_LINE = re.compile(r"class='ocr_(?:line|textfloat|header|caption)'")
_HOCR_CHAR = re.compile(r"x_bboxes (\d+) (\d+) (\d+) (\d+); x_conf ([\d.]+)'>([^<]*)</span>")


def parse_hocr(hocr: str) -> list[list[Glyph]]:
    """The characters of each line of tesseract's hOCR output, left to right."""
    lines: list[list[Glyph]] = []
    for chunk in _HOCR_LINE.split(hocr)[1:]:
        glyphs = []
        for match in _HOCR_CHAR.finditer(chunk):
            char = html.unescape(match.group(6)).strip().upper()
            if len(char) != 1 or char not in WHITELIST:
                continue
            left, top, right, bottom = (int(match.group(i)) for i in range(1, 5))
            glyphs.append(Glyph(char, left, top, right, bottom, float(match.group(5))))
        if glyphs:
            lines.append(sorted(glyphs, key=lambda g: g.centre))
    return lines


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def snap_to_grid(
    lines: list[list[Glyph]],
    length: int,
    decide: Callable[[Glyph, float], str] | None = None,
) -> tuple[str, ...] | None:
    """The lines of one zone rebuilt cell by cell: the zone is printed at a fixed pitch, so
    each character goes to the cell its centre falls in; a cell OCR left empty is a filler, and
    of two characters in one cell the one nearer the cell's centre is kept. This undoes the
    fillers tesseract drops or doubles. None when the pitch cannot be measured."""
    deltas = [
        b.centre - a.centre for glyphs in lines for a, b in zip(glyphs, glyphs[1:], strict=False)
    ]
    if len(deltas) < length // 2:
        return None
    rough = _median(deltas)
    if rough <= 0:
        return None
    steady = [d for d in deltas if 0.8 * rough <= d <= 1.2 * rough]
    pitch = sum(steady) / len(steady)
    # Over a whole line the pitch is measured better, when both ends were read.
    spans = [
        (glyphs[-1].centre - glyphs[0].centre) / (length - 1)
        for glyphs in lines
        if round((glyphs[-1].centre - glyphs[0].centre) / pitch) == length - 1
    ]
    if spans:
        pitch = _median(spans)
    origin = _median([glyphs[0].centre for glyphs in lines])
    rebuilt = []
    for glyphs in lines:
        # This line's own phase, for what deskewing left of the slant.
        residues = [
            (g.centre - origin) / pitch - round((g.centre - origin) / pitch) for g in glyphs
        ]
        start = origin + _median(residues) * pitch
        cells: list[tuple[float, Glyph] | None] = [None] * length
        for glyph in glyphs:
            position = (glyph.centre - start) / pitch
            index = round(position)
            if not 0 <= index < length:
                continue
            offset = abs(position - index)
            current = cells[index]
            if current is None or offset < current[0]:
                cells[index] = (offset, glyph)
        chars = []
        for cell in cells:
            if cell is None:
                chars.append("<")
            else:
                chars.append(decide(cell[1], pitch) if decide is not None else cell[1].char)
        rebuilt.append("".join(chars))
    return tuple(rebuilt)


# Pairs of characters tesseract confuses in OCR-B where the check digits cannot help (names
# have none; K and the filler weigh the same): the glyph decides, against the font's shapes.
_LOOK_ALIKES = {"O": "OQ", "Q": "OQ", "K": "K<", "X": "X<", "C": "C<", "S": "S<"}
_TEMPLATE_SIZE = (20, 28)
OCR_B_FONTS = (
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
)


def _ink(image: Image.Image) -> list[int]:
    """1 for ink, 0 for paper, in the template grid, whatever the original size and contrast."""
    small = image.convert("L").resize(_TEMPLATE_SIZE, Image.Resampling.BILINEAR)
    low, high = small.getextrema()
    middle = (low + high) / 2
    return [1 if v < middle else 0 for v in small.tobytes()]


@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, list[int]]:
    """The look-alike characters drawn in OCR-B, cropped to their ink; empty without the font."""
    path = next((p for p in OCR_B_FONTS if Path(p).exists()), None)
    if path is None:
        return {}
    font = ImageFont.truetype(path, 96)
    shapes = {}
    for char in sorted(set("".join(_LOOK_ALIKES.values()))):
        canvas = Image.new("L", (120, 140), 255)
        ImageDraw.Draw(canvas).text((10, 10), char, font=font, fill=0)
        box = ImageOps.invert(canvas).getbbox()
        if box is None:
            return {}
        shapes[char] = _ink(canvas.crop(box))
    return shapes


def _decider(image: Image.Image) -> Callable[[Glyph, float], str] | None:
    templates = _templates()
    if not templates:
        return None
    gray = image.convert("L")

    def decide(glyph: Glyph, pitch: float) -> str:
        choices = _LOOK_ALIKES.get(glyph.char)
        if choices is None:
            return glyph.char
        # The character's cell, then its ink inside (tesseract's boxes are approximate).
        half = pitch / 2
        top = max(0, glyph.top - round(pitch / 4))
        cell = gray.crop(
            (
                max(0, round(glyph.centre - half)),
                top,
                min(gray.width, round(glyph.centre + half)),
                min(gray.height, glyph.bottom + round(pitch / 4)),
            )
        )
        # Specks would pass for the small strokes that tell these shapes apart.
        cell = cell.filter(ImageFilter.MedianFilter(3))
        low, high = cell.getextrema()
        if high - low < 40:
            return glyph.char
        middle = (low + high) // 2
        box = cell.point(lambda v: 255 if v < middle else 0).getbbox()
        if box is None or box[2] - box[0] < 4 or box[3] - box[1] < 6:
            return glyph.char
        ink = _ink(cell.crop(box))
        scores = {c: sum(a != b for a, b in zip(ink, templates[c], strict=True)) for c in choices}
        return min(choices, key=lambda c: (scores[c], c != glyph.char))

    return decide


def snapped_candidates(
    lines: list[list[Glyph]], image: Image.Image | None = None
) -> list[tuple[str, ...]]:
    """Zones rebuilt on the fixed pitch from consecutive lines of about the right length, the
    lowest on the image first, with fillers and names cleaned as in `zone_candidates`."""
    groups: list[tuple[str, ...]] = []
    for fmt, count in ((TD1, 3), (TD3, 2)):
        length = LINE_LENGTHS[fmt]
        names_line, names_from = _names_position(fmt)
        for start in range(len(lines) - count, -1, -1):
            window = lines[start : start + count]
            if not all(length - 6 <= len(glyphs) <= length + 10 for glyphs in window):
                continue
            decide = _decider(image) if image is not None else None
            snapped = snap_to_grid(window, length, decide)
            if snapped is None:
                continue
            cleaned = tuple(
                _line_options(line, length, names_from if i == names_line else None)[0]
                for i, line in enumerate(snapped)
            )
            for group in (cleaned, snapped):
                if group not in groups:
                    groups.append(group)
    return groups


# -- Preparing the image ----------------------------------------------------------------------


def _open(data: bytes, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels:
            raise ValueError(TOO_MANY_PIXELS)
        image.load()
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA", "P"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = background
    return image.convert("L")


def _normalise_size(image: Image.Image) -> Image.Image:
    width, height = image.size
    if width < TARGET_WIDTH:
        factor = TARGET_WIDTH / width
    elif width > MAX_WIDTH:
        factor = MAX_WIDTH / width
    else:
        return image
    return image.resize((round(width * factor), round(height * factor)), Image.Resampling.LANCZOS)


def _row_profile_score(image: Image.Image) -> float:
    """How sharply the dark pixels gather into rows: high when text lines are level."""
    rows = image.resize((1, image.height), Image.Resampling.BOX).tobytes()
    values = [255 - v for v in rows]
    return float(sum((a - b) ** 2 for a, b in zip(values, values[1:], strict=False)))


def estimate_skew(image: Image.Image, limit: float = 5.0, step: float = 0.25) -> float:
    """The rotation (degrees, counter-clockwise) that levels the text rows of `image`."""
    small = image
    if image.width > 800:
        small = image.resize(
            (800, max(1, round(image.height * 800 / image.width))), Image.Resampling.BILINEAR
        )
    # Dark text on light paper: keep only clearly dark pixels, so the background does not count.
    binary = small.point(lambda v: 0 if v < 110 else 255)
    best_angle, best_score = 0.0, -1.0
    steps = round(limit / step)
    for i in range(-steps, steps + 1):
        angle = i * step
        rotated = binary.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
        score = _row_profile_score(rotated)
        if score > best_score + 1e-9:
            best_angle, best_score = angle, score
    return best_angle


def _bottom_band(image: Image.Image, fraction: float) -> Image.Image:
    top = round(image.height * (1 - fraction))
    return image.crop((0, top, image.width, image.height))


def _width(image: Image.Image, width: int) -> Image.Image:
    if image.width == width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _variants(image: Image.Image) -> Iterator[tuple[float, Image.Image]]:
    """(angle, image) to read, most promising first: the bottom band of the levelled image at
    a few sizes (tesseract errs differently at each, and the readings are compared), then
    with a median filter against speckles, the whole image, and other angles."""
    estimated = estimate_skew(image)
    levelled = image.rotate(
        estimated, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255
    )
    band = _bottom_band(levelled, 0.45)
    for width in READING_WIDTHS:
        yield estimated, _width(band, width)
    yield estimated, _width(band, READING_WIDTHS[1]).filter(ImageFilter.MedianFilter(3))
    yield estimated, _width(levelled, READING_WIDTHS[1])
    for angle in FALLBACK_ANGLES:
        if abs(angle - estimated) <= 0.5:
            continue
        rotated = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        yield angle, _width(_bottom_band(rotated, 0.45), READING_WIDTHS[1])


def _choose(valid: list[tuple[MrzResult, float]]) -> tuple[MrzResult, float, int]:
    """The reading to keep among those whose check digits passed: the most frequent checked
    lines, then the most frequent names among the readings with those lines (names have no
    check digit, so agreement between readings is their only evidence)."""
    checked: Counter[tuple[str, ...]] = Counter()
    for result, _angle in valid:
        line, _column = _names_position(result.format)
        checked[tuple(text for i, text in enumerate(result.lines) if i != line)] += 1
    best_checked = checked.most_common(1)[0][0]
    same = [
        (result, angle)
        for result, angle in valid
        if tuple(
            text for i, text in enumerate(result.lines) if i != _names_position(result.format)[0]
        )
        == best_checked
    ]
    names = Counter(result.lines for result, _angle in same)
    lines, agreeing = names.most_common(1)[0]
    for result, angle in same:
        if result.lines == lines:
            return result, angle, agreeing
    raise AssertionError("unreachable")


def read_mrz_image(
    data: bytes,
    *,
    today: datetime.date | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = 9,
    agreement: int = 2,
) -> MrzReading:
    """Read the zone of a card or passport image (PNG or JPEG bytes).

    The image is read several ways; a reading counts only if its check digits all pass, and
    reading stops as soon as `agreement` readings give the very same zone. Returns a reading
    with `result` when some reading passed (the most agreed one); otherwise `result` is None
    and `reason` says why (not an image, no zone found, check digits never passed). Raises
    OcrUnavailable when tesseract is not installed.
    """
    if tesseract_command() is None:
        raise OcrUnavailable("tesseract is not installed (apt-get install tesseract-ocr)")
    try:
        image = _open(data, max_pixels)
    except ValueError as exc:
        reason = TOO_MANY_PIXELS if str(exc) == TOO_MANY_PIXELS else NOT_AN_IMAGE
        return MrzReading(None, reason)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return MrzReading(None, TOO_MANY_PIXELS)
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError):
        return MrzReading(None, NOT_AN_IMAGE)
    image = ImageOps.autocontrast(_normalise_size(image), cutoff=1)
    attempts = 0
    text = ""
    seen: list[tuple[str, ...]] = []
    valid: list[tuple[MrzResult, float]] = []
    reason = NO_ZONE_FOUND
    for angle, variant in _variants(image):
        if attempts >= max_attempts:
            break
        attempts += 1
        try:
            glyph_lines = parse_hocr(run_tesseract(variant, timeout=timeout, hocr=True))
        except (OSError, subprocess.TimeoutExpired):
            reason = OCR_FAILED
            continue
        text = "\n".join("".join(g.char for g in glyphs) for glyphs in glyph_lines)
        for group in snapped_candidates(glyph_lines, variant) + zone_candidates(text):
            if group not in seen:
                seen.append(group)
            try:
                result = parse_mrz(group, today=today)
            except MrzError:
                reason = CHECK_DIGITS_FAIL
                continue
            valid.append((result, angle))
            break
        if valid and Counter(r.lines for r, _a in valid).most_common(1)[0][1] >= agreement:
            break
    if not valid:
        return MrzReading(None, reason, attempts, 0.0, text, tuple(seen))
    result, angle, agreeing = _choose(valid)
    return MrzReading(result, "", attempts, angle, text, tuple(seen), agreeing)

"""Explanations of findings for the candidate, in plain words and in their language.

verification.compare returns stable codes and parameters; the sentences live here, marked for
translation, so that `make messages` puts them in the translators' catalogues.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from candidates.models import Candidate, IdentitySource

from .models import GradeChoices

# %(field)s is the field's name, %(source)s the source's ("CNIE card", "School records" ...),
# %(file_value)s and %(source_value)s the two values, %(particle)s a particle such as El or Ben.
EXPLANATIONS = {
    "same": _("Your file and %(source)s agree on your %(field)s."),
    "presentation": _(
        "Your file writes your %(field)s “%(file_value)s” and %(source)s writes "
        "“%(source_value)s”: only capitals, accents, spaces or hyphens differ. Nothing to do."
    ),
    "arabic_spelling": _(
        "Your file writes your %(field)s “%(file_value)s” and %(source)s writes "
        "“%(source_value)s”: only the way some Arabic letters are written differs (hamza, "
        "alef, ta marbuta or final ya). Nothing to do."
    ),
    "particle": _(
        "Your file writes your %(field)s “%(file_value)s” and %(source)s writes "
        "“%(source_value)s”: one has the particle “%(particle)s” and the other does not. "
        "Check which form is on your CNIE; if your file is wrong, report it."
    ),
    "transliteration": _(
        "Your file writes your %(field)s “%(file_value)s” and %(source)s writes "
        "“%(source_value)s”: these look like two Latin spellings of the same name. Your "
        "diploma will use the spelling of your file: if it is not the one on your CNIE, "
        "report it."
    ),
    "name_part_missing": _(
        "Your file writes your %(field)s “%(file_value)s” and %(source)s writes "
        "“%(source_value)s”: one of them has a name the other does not. Check which is "
        "complete; if your file is wrong, report it."
    ),
    "typo": _(
        "Your file writes your %(field)s “%(file_value)s” and %(source)s writes "
        "“%(source_value)s”: they differ by one letter, perhaps a typing mistake. Check which "
        "is right; if your file is wrong, report it."
    ),
    "different_script": _(
        "Your %(field)s is “%(file_value)s” in your file but %(source)s gives "
        "“%(source_value)s”, in another alphabet. Check that your file is right."
    ),
    "different": _(
        "Your file writes your %(field)s “%(file_value)s” but %(source)s writes "
        "“%(source_value)s”: these are different names. If your file is wrong, report the "
        "correct name with a copy of your CNIE. Your convocation waits until this is resolved."
    ),
    "swapped_names": _(
        "Your given name and your family name seem to be swapped: your file gives "
        "“%(file_value)s” as your %(field)s, and %(source)s gives “%(source_value)s”. Report "
        "the correct order. Your convocation waits until this is resolved."
    ),
    "day_month_swapped": _(
        "Your birth date is %(file_value)s in your file but %(source)s says "
        "%(source_value)s: the day and the month seem to be swapped. If your file is wrong, "
        "report it. Your convocation waits until this is resolved."
    ),
    "different_date": _(
        "Your birth date is %(file_value)s in your file but %(source)s says "
        "%(source_value)s. If your file is wrong, report the correct date with a copy of your "
        "CNIE. Your convocation waits until this is resolved."
    ),
    "month_first": _(
        "%(source)s writes your birth date %(source_value)s, with the month before the day; "
        "read that way it is the date of your file. Nothing to do in your file."
    ),
    "unreadable_date": _(
        "%(source)s gives your birth date as “%(source_value)s”, which could not be read as a "
        "date. The school will check it."
    ),
    "cnie_one_character": _(
        "Your CNIE number is %(file_value)s in your file but %(source)s says "
        "%(source_value)s: one character differs. If your file is wrong, report it. Your "
        "convocation waits until this is resolved."
    ),
    "different_cnie": _(
        "Your CNIE number is %(file_value)s in your file but %(source)s says "
        "%(source_value)s. If your file is wrong, report it with a copy of your CNIE. Your "
        "convocation waits until this is resolved."
    ),
    "unreadable_value": _(
        "%(source)s gives your %(field)s as “%(source_value)s”, which could not be read. The "
        "school will check it."
    ),
    "different_sex": _(
        "Your file says %(file_value)s for sex but %(source)s says %(source_value)s. If your "
        "file is wrong, report it. Your convocation waits until this is resolved."
    ),
    "different_nationality": _(
        "Your nationality is %(file_value)s in your file but %(source)s says "
        "%(source_value)s. If your file is wrong, report it. Your convocation waits until "
        "this is resolved."
    ),
    "different_place": _(
        "Your birth place is “%(file_value)s” in your file but %(source)s says "
        "“%(source_value)s”. Check which is right; if your file is wrong, report it."
    ),
    "missing_in_file": _(
        "Your file has no %(field)s, but %(source)s gives “%(source_value)s”. If it is yours, "
        "report it so that the school adds it."
    ),
}

GRADE_ADVICE = {
    GradeChoices.NONE: _("Nothing to do."),
    GradeChoices.COSMETIC: _("A difference of presentation only: nothing to do."),
    GradeChoices.NEEDS_REVIEW: _("Please check this field against your CNIE."),
    GradeChoices.BLOCKING: _("This must be resolved before your convocation."),
}


def field_label(name: str) -> str:
    return str(Candidate._meta.get_field(name).verbose_name)


def source_label(kind: str) -> str:
    try:
        return str(IdentitySource.Kind(kind).label)
    except ValueError:
        return kind


def _explain(finding: Mapping[str, Any]) -> str:
    template = EXPLANATIONS.get(finding["code"])
    params = {
        "field": field_label(finding["field"]),
        "source": source_label(finding["source"]),
        "file_value": finding.get("file_value", ""),
        "source_value": finding.get("source_value", ""),
        "particle": "",
        **dict(finding.get("params") or {}),
    }
    if template is None:
        return str(GRADE_ADVICE[GradeChoices(finding["grade"])])
    text = str(template) % params
    return text[:1].upper() + text[1:]


def explain(finding: Mapping[str, Any]) -> str:
    """The explanation of a stored finding (Finding.as_dict()), in the active language."""
    return _explain(finding)


explain_lazy = lazy(_explain, str)


# -- Reading a card's machine-readable zone (for the clerk who confirms or types it) ----------

MRZ_FIELDS = {
    "document_code": _("document code"),
    "issuing_state": _("issuing state"),
    "document_number": _("document number"),
    "document_number_check": _("document number check digit"),
    "optional_data_1": _("optional data"),
    "optional_data_2": _("optional data"),
    "birth_date": _("birth date"),
    "birth_date_check": _("birth date check digit"),
    "sex": _("sex"),
    "expiry_date": _("expiry date"),
    "expiry_date_check": _("expiry date check digit"),
    "nationality": _("nationality"),
    "personal_number": _("personal number"),
    "personal_number_check": _("personal number check digit"),
    "composite_check": _("composite check digit"),
    "names": _("names"),
}
MRZ_PROBLEMS = {
    "empty": _("The machine-readable zone is empty."),
    "line_count": _(
        "The zone has %(found)s lines: a card has 3 lines of 30 characters and a passport 2 "
        "lines of 44."
    ),
    "line_length": _("Line %(line)s has %(found)s characters instead of %(expected)s."),
    "illegal_character": _(
        "Line %(line)s, column %(start)s: “%(found)s” is not allowed (only A to Z, 0 to 9 and <)."
    ),
    "check_digit": _(
        "Line %(line)s, column %(start)s: the %(field)s is wrong: %(expected)s was expected, "
        "%(found)s was found."
    ),
    "not_digits": _(
        "Line %(line)s, columns %(start)s to %(end)s: the %(field)s must be digits, not "
        "“%(found)s”."
    ),
    "not_letters": _(
        "Line %(line)s, columns %(start)s to %(end)s: the %(field)s must be letters, not "
        "“%(found)s”."
    ),
    "invalid_date": _(
        "Line %(line)s, columns %(start)s to %(end)s: the %(field)s “%(found)s” is not a date."
    ),
    "invalid_sex": _("Line %(line)s, column %(start)s: the sex must be M, F or <."),
    "invalid_state": _(
        "Line %(line)s, columns %(start)s to %(end)s: the %(field)s “%(found)s” is not a state "
        "code."
    ),
    "document_code": _(
        "Line %(line)s: the document code “%(found)s” is not that of this kind of document."
    ),
    "long_number": _(
        "Line %(line)s: the document number continues in the optional data, but its end and "
        "check digit are missing there."
    ),
}
OCR_REASONS = {
    "not_an_image": _("The file is not an image that can be read."),
    "too_many_pixels": _("The image is too large to read."),
    "no_zone_found": _(
        "No machine-readable zone was found on the image: type the three lines at the bottom "
        "of the card."
    ),
    "check_digits_fail": _(
        "The machine-readable zone could not be read without errors: type the three lines at "
        "the bottom of the card."
    ),
    "ocr_failed": _("The image could not be read. Type the machine-readable zone."),
}


def mrz_problem_message(problem) -> str:
    """A problem of identity.mrz (MrzProblem), for the clerk, in the active language."""
    params = {"line": "", "start": "", "end": "", "expected": "", "found": "", **problem.params}
    params["field"] = str(MRZ_FIELDS.get(problem.field or "", problem.field or ""))
    template = MRZ_PROBLEMS.get(problem.code)
    return str(template) % params if template is not None else problem.message


def ocr_reason_message(reason: str) -> str:
    return str(OCR_REASONS.get(reason, OCR_REASONS["ocr_failed"]))

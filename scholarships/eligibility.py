"""Who may hold a post-bac scholarship (DESIGN §2, 2025 rules; every threshold is data).

Pure: no Django import. The rules return reason codes; scholarships.services turns them into
translated sentences for the candidate and the commission.

Two moments: at submission (`at_submission`), when the bac result is not known yet, and when
the results are final (`at_results`), when only an admitted candidate stays eligible.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass


class Reason:
    NO_CNIE = "no_cnie"
    NATIONALITY = "nationality"
    AGE = "age"
    NOT_THIS_YEAR = "not_this_year"
    NOT_PUBLIC = "not_public"
    EMPLOYED = "employed"
    NO_RNP = "no_rnp"
    NO_RSU = "no_rsu"
    RSU_INDEX = "rsu_index"
    MISSING_DOCUMENT = "missing_document"
    NOT_ADMITTED = "not_admitted"


@dataclass(frozen=True, slots=True)
class Criteria:
    """The eligibility rules of one programme version."""

    year: int
    bac_date: datetime.date
    nationality: str = "MAR"  # empty: any nationality
    age_limit: int = 26  # strictly under this age on the bac date
    require_bac_of_year: bool = True
    require_public_institution: bool = True
    require_no_employment: bool = True
    require_rnp: bool = True
    require_rsu: bool = True
    rsu_threshold: float | None = None  # None: no index rule
    required_documents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Facts:
    """What the file and the application say about the applicant."""

    has_cnie: bool
    nationality: str
    birth_date: datetime.date
    session_year: int
    public_institution: bool
    employed: bool
    rnp_number: str
    rsu_number: str
    rsu_index: float | None
    documents: frozenset[str] = frozenset()


def age_on(birth: datetime.date, day: datetime.date) -> int:
    """Age in whole years on `day` (a 29 February birthday counts on 1 March)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


def at_submission(facts: Facts, rules: Criteria) -> list[str]:
    """Every reason the application cannot be submitted (empty: eligible so far)."""
    reasons: list[str] = []
    if not facts.has_cnie:
        reasons.append(Reason.NO_CNIE)
    if rules.nationality and facts.nationality.upper() != rules.nationality.upper():
        reasons.append(Reason.NATIONALITY)
    if age_on(facts.birth_date, rules.bac_date) >= rules.age_limit:
        reasons.append(Reason.AGE)
    if rules.require_bac_of_year and facts.session_year != rules.year:
        reasons.append(Reason.NOT_THIS_YEAR)
    if rules.require_public_institution and not facts.public_institution:
        reasons.append(Reason.NOT_PUBLIC)
    if rules.require_no_employment and facts.employed:
        reasons.append(Reason.EMPLOYED)
    if rules.require_rnp and not facts.rnp_number.strip():
        reasons.append(Reason.NO_RNP)
    if rules.require_rsu and not facts.rsu_number.strip():
        reasons.append(Reason.NO_RSU)
    if (
        rules.rsu_threshold is not None
        and facts.rsu_index is not None
        and facts.rsu_index > rules.rsu_threshold
    ):
        reasons.append(Reason.RSU_INDEX)
    if rules.rsu_threshold is not None and facts.rsu_index is None and Reason.NO_RSU not in reasons:
        reasons.append(Reason.NO_RSU)
    if any(code not in facts.documents for code in rules.required_documents):
        reasons.append(Reason.MISSING_DOCUMENT)
    return reasons


def at_results(decision: str) -> list[str]:
    """Once the result is final: only an admitted candidate holds a bac of the year."""
    return [] if decision == "admitted" else [Reason.NOT_ADMITTED]

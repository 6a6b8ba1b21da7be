"""Scoring and ranking scholarship applications under a budget.

Pure: no Django import, so that the rules can be property-tested with hypothesis and the
300,000-application benchmark (bench/scholarships.py) measures the rules and nothing else.

**Score** (0 to 100, four decimals): a weighted mean of four criteria, each between 0 and 1,
with the weights of the programme version (data, edited by the ministry):

* ``social``: how far the household's RSU index lies under the programme's threshold
  (``1 - index / threshold``; a lower index means a poorer household);
* ``income``: how far the yearly income per household member lies under the income ceiling
  (``1 - per_capita / ceiling``);
* ``household``: the size of the household, up to ten people (``size / 10``);
* ``merit``: the general average of the bac, /20 (0 until the results are known).

**Ranking**: by score, highest first. Ties are broken, in this order, by the lower RSU index
(the poorer household), then the larger household, then the earlier submission, then the
smaller application number, so that two runs over the same data always give the same order.

**Budget**: walking down the ranking, each applicant is proposed the full grant if their RSU
index is at or under ``full_grant_max_index``, the half grant otherwise. A budget counts grants,
an amount, or both. When a full grant no longer fits the amount left but a half grant does, a
half grant is proposed. The first applicant who cannot be funded at all closes the list: no
applicant ranked lower is funded ahead of them; the rest are proposed a refusal (budget).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

FULL = "full"
HALF = "half"
REFUSED = "refused"

CRITERIA = ("social", "income", "household", "merit")
DEFAULT_WEIGHTS: Mapping[str, float] = {"social": 50, "income": 25, "household": 10, "merit": 15}


@dataclass(frozen=True, slots=True)
class Applicant:
    """What the score needs of one application."""

    id: int
    rsu_index: float
    household_size: int
    yearly_income: float
    submitted_at: float  # a POSIX timestamp
    general_average: float | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    weights: Mapping[str, float]
    rsu_threshold: float
    income_ceiling: float  # yearly income per household member that scores 0
    full_grant_max_index: float
    full_amount: Decimal
    half_amount: Decimal
    budget_grants: int | None = None
    budget_amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    id: int
    rank: int
    score: float
    proposal: str  # FULL, HALF or REFUSED


def check_weights(weights: Mapping[str, float]) -> list[str]:
    """The problems of a set of weights (empty when usable)."""
    problems = [f"unknown criterion {name}" for name in weights if name not in CRITERIA]
    for name in CRITERIA:
        value = weights.get(name, 0)
        if not isinstance(value, int | float) or value < 0:
            problems.append(f"weight of {name} must be a number at least 0")
    if not problems and sum(weights.get(name, 0) for name in CRITERIA) <= 0:
        problems.append("at least one weight must be positive")
    return problems


def _clip(value: float) -> float:
    return 0.0 if value < 0 else 1.0 if value > 1 else value


def criteria(applicant: Applicant, rules: Rules) -> dict[str, float]:
    size = max(1, applicant.household_size)
    per_capita = max(0.0, applicant.yearly_income) / size
    threshold = rules.rsu_threshold or 1.0
    ceiling = rules.income_ceiling or 1.0
    return {
        "social": _clip(1 - applicant.rsu_index / threshold),
        "income": _clip(1 - per_capita / ceiling),
        "household": _clip(size / 10),
        "merit": _clip((applicant.general_average or 0) / 20),
    }


def score(applicant: Applicant, rules: Rules) -> float:
    """The applicant's score, 0 to 100, rounded to four decimals (so that equal inputs tie)."""
    weights = rules.weights
    total = sum(weights.get(name, 0) for name in CRITERIA)
    if total <= 0:
        return 0.0
    values = criteria(applicant, rules)
    weighted = sum(weights.get(name, 0) * values[name] for name in CRITERIA)
    return round(100 * weighted / total, 4)


def _order_key(item: tuple[float, Applicant]) -> tuple:
    value, applicant = item
    return (
        -value,
        applicant.rsu_index,
        -applicant.household_size,
        applicant.submitted_at,
        applicant.id,
    )


def rank(applicants: Iterable[Applicant], rules: Rules) -> list[Ranked]:
    """Score, order (ties rule in the module's docstring) and propose within the budget."""
    scored = sorted(((score(a, rules), a) for a in applicants), key=_order_key)
    grants_left = rules.budget_grants
    amount_left = rules.budget_amount
    closed = False
    result: list[Ranked] = []
    for position, (value, applicant) in enumerate(scored, start=1):
        proposal = REFUSED
        if not closed:
            wanted = FULL if applicant.rsu_index <= rules.full_grant_max_index else HALF
            proposal = _fit(wanted, grants_left, amount_left, rules)
            if proposal == REFUSED:
                closed = True
            else:
                if grants_left is not None:
                    grants_left -= 1
                if amount_left is not None:
                    amount_left -= rules.full_amount if proposal == FULL else rules.half_amount
        result.append(Ranked(applicant.id, position, value, proposal))
    return result


def _fit(wanted: str, grants_left: int | None, amount_left: Decimal | None, rules: Rules) -> str:
    if grants_left is not None and grants_left <= 0:
        return REFUSED
    if amount_left is None:
        return wanted
    if wanted == FULL and amount_left >= rules.full_amount:
        return FULL
    if amount_left >= rules.half_amount:
        return HALF
    return REFUSED


def totals(ranked: Sequence[Ranked], rules: Rules) -> dict[str, object]:
    full = sum(1 for r in ranked if r.proposal == FULL)
    half = sum(1 for r in ranked if r.proposal == HALF)
    return {
        "full": full,
        "half": half,
        "refused": len(ranked) - full - half,
        "amount": rules.full_amount * full + rules.half_amount * half,
    }

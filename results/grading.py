"""The grading engine of DESIGN §2: component averages, the general average, the decision, the
mention, and the catch-up session's best-of rule.

Pure: no Django import, so the rules can be tested with hypothesis and reused by a stand-alone
verifier. Every threshold and weight comes from a `GradingConfig`; the defaults are the
national rules (25/25/50, free candidates 1/3 and 2/3, admitted at 10, catch-up from 7, a 0 in
a national subject eliminates, mentions at 12, 14 and 16, half-up to two decimals).

Arithmetic is exact. Marks carry at most two decimals and are handled as integer hundredths;
coefficients and weights are rationals scaled to integers once per `Scheme` (one per track),
so a candidate costs a few integer sums, and the only rounding is the documented one:
half-up, once, on the general average (and, for display, on each component average). The
decision is taken on the rounded general average, the number the candidate sees: 9.995 is
shown as 10.00 and is admitted.

A component (continuous assessment, regional exam, national exam) averages its subjects
weighted by their coefficients. A component counts only if the track has subjects in it and
its weight for the candidate's type is not zero (free candidates have no continuous
assessment); the weights of the counting components are normalised to sum to one, so 25:50
becomes 1/3:2/3 for a free candidate and scaling every weight changes nothing.

A missing mark is never a silent zero: the result is "incomplete" and names what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from operator import itemgetter, mul
from typing import Any, NamedTuple

CONTINUOUS = "continuous"
REGIONAL = "regional"
NATIONAL = "national"
COMPONENTS: tuple[str, ...] = (CONTINUOUS, REGIONAL, NATIONAL)

NORMAL = "normal"
CATCH_UP = "catch_up"

ADMITTED = "admitted"
CATCH_UP_ELIGIBLE = "catch_up"
FAILED = "failed"
INCOMPLETE = "incomplete"

NO_MENTION = ""
PASSABLE = "passable"
ASSEZ_BIEN = "assez_bien"
BIEN = "bien"
TRES_BIEN = "tres_bien"

MAX_MARK = Decimal(20)
MARK_DECIMALS = 2  # marks are entered with at most two decimals
_MARK_SCALE = 10**MARK_DECIMALS
REASON_MAX_LENGTH = 200  # ComputedResult.reason

Number = Decimal | Fraction | int


class GradingError(ValueError):
    """A configuration, scheme or mark the engine cannot work with."""


@dataclass(frozen=True)
class GradingConfig:
    """The rules of one session. Weights are relative (normalised over the components that
    count); thresholds and bands are on the /20 scale and compared with the rounded average."""

    continuous_weight: Number = Decimal("0.25")
    regional_weight: Number = Decimal("0.25")
    national_weight: Number = Decimal("0.50")
    # Free candidates have no continuous assessment: regional and national keep their ratio.
    free_continuous_weight: Number = 0
    free_regional_weight: Number = Fraction(1, 3)
    free_national_weight: Number = Fraction(2, 3)
    admission_threshold: Decimal = Decimal("10")
    catch_up_threshold: Decimal = Decimal("7")
    # A mark at or below this in a subject of these components fails the candidate (note
    # éliminatoire); None disables the rule.
    eliminatory_mark: Decimal | None = Decimal("0")
    eliminatory_components: frozenset[str] = frozenset({NATIONAL})
    # (lowest average, mention), ascending; a mention is given to admitted candidates only.
    mention_bands: tuple[tuple[Decimal, str], ...] = (
        (Decimal("10"), PASSABLE),
        (Decimal("12"), ASSEZ_BIEN),
        (Decimal("14"), BIEN),
        (Decimal("16"), TRES_BIEN),
    )
    decimals: int = 2
    # False: the general average is computed from the exact component averages; True: from
    # the component averages rounded as displayed.
    round_component_averages: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= MARK_DECIMALS:
            raise GradingError(f"decimals must be between 0 and {MARK_DECIMALS}")
        for name in (
            "continuous_weight",
            "regional_weight",
            "national_weight",
            "free_continuous_weight",
            "free_regional_weight",
            "free_national_weight",
        ):
            if _fraction(getattr(self, name), name) < 0:
                raise GradingError(f"{name} must not be negative")
        for name in ("admission_threshold", "catch_up_threshold"):
            self.units(getattr(self, name), name)
        if self.catch_up_threshold > self.admission_threshold:
            raise GradingError("the catch-up threshold must not exceed the admission threshold")
        if self.eliminatory_mark is not None:
            _mark_hundredths(self.eliminatory_mark)
        unknown = set(self.eliminatory_components) - set(COMPONENTS)
        if unknown:
            raise GradingError(f"unknown components: {sorted(unknown)}")
        lows = [self.units(low, "mention band") for low, _mention in self.mention_bands]
        if lows != sorted(lows) or len(set(lows)) != len(lows):
            raise GradingError("mention bands must be in ascending order")

    def weights(self, free: bool) -> tuple[Fraction, Fraction, Fraction]:
        """The (continuous, regional, national) weights for a school or a free candidate."""
        if free:
            values = (
                self.free_continuous_weight,
                self.free_regional_weight,
                self.free_national_weight,
            )
        else:
            values = (self.continuous_weight, self.regional_weight, self.national_weight)
        return tuple(_fraction(v, "weight") for v in values)  # type: ignore[return-value]

    def units(self, value: Number, what: str = "value") -> int:
        """`value` (/20) in units of the last decimal kept, exactly, or GradingError."""
        scaled = _fraction(value, what) * 10**self.decimals
        if scaled.denominator != 1 or not 0 <= scaled <= 20 * 10**self.decimals:
            raise GradingError(f"{what} must be between 0 and 20 with {self.decimals} decimals")
        return int(scaled)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly record of the rules, stored with each computation."""
        return {
            "weights": [str(w) for w in self.weights(False)],
            "free_weights": [str(w) for w in self.weights(True)],
            "admission_threshold": str(self.admission_threshold),
            "catch_up_threshold": str(self.catch_up_threshold),
            "eliminatory_mark": None
            if self.eliminatory_mark is None
            else str(self.eliminatory_mark),
            "eliminatory_components": sorted(self.eliminatory_components),
            "mention_bands": [[str(low), mention] for low, mention in self.mention_bands],
            "decimals": self.decimals,
            "round_component_averages": self.round_component_averages,
        }


def _fraction(value: Any, what: str) -> Fraction:
    try:
        return Fraction(value)
    except (TypeError, ValueError, InvalidOperation, ZeroDivisionError):
        raise GradingError(f"{what}: {value!r} is not a number") from None


def _mark_hundredths(value: Any) -> int:
    """A mark (/20, at most two decimals) as an integer number of hundredths."""
    try:
        mark = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError):
        raise GradingError(f"{value!r} is not a mark") from None
    if not mark.is_finite() or not 0 <= mark <= MAX_MARK:
        raise GradingError(f"{value!r} is not a mark between 0 and 20")
    scaled = mark * _MARK_SCALE
    if scaled != scaled.to_integral_value():
        raise GradingError(f"{value!r} has more than {MARK_DECIMALS} decimals")
    return int(scaled)


DEFAULT_CONFIG = GradingConfig()


def round_half_up(value: Fraction | Decimal | int, decimals: int = 2) -> Decimal:
    """`value` rounded half-up (away from zero at exactly .5) to `decimals` places."""
    exact = Fraction(value)
    scale = 10**decimals
    magnitude = (2 * abs(exact) * scale + 1) // 2
    units = int(magnitude) if exact >= 0 else -int(magnitude)
    return Decimal(units).scaleb(-decimals)


# --- Schemes: one track's subjects and coefficients, compiled for speed. ----------------------


@dataclass(frozen=True)
class SubjectRule:
    """One subject of a track in one component, with its coefficient. `subject` is whatever
    names it for people (a code such as "MATH"); it appears in reasons."""

    subject: Any
    component: str
    coefficient: Number


class Missing(NamedTuple):
    subject: Any
    component: str
    sitting: str = NORMAL

    def label(self) -> str:
        text = f"{self.subject} {self.component}"
        return f"{text} ({CATCH_UP})" if self.sitting == CATCH_UP else text


class Outcome(NamedTuple):
    """The engine's answer in integer units of 10**-decimals (None where not computable)."""

    continuous: int | None
    regional: int | None
    national: int | None
    general: int | None
    decision: str
    mention: str
    missing: tuple[Missing, ...] = ()
    eliminated_by: tuple[Any, ...] = ()
    extra: str = ""  # e.g. a scheme without subjects

    @property
    def reason(self) -> str:
        return format_reason(self)


def format_reason(outcome: Outcome) -> str:
    """The short, stable explanation stored with a result (ComputedResult.reason):
    `missing: PC national, MATH national (catch_up)` or `eliminated: 0 in MATH, PC`."""
    if outcome.extra:
        return outcome.extra[:REASON_MAX_LENGTH]
    if outcome.missing:
        return _bounded("missing: ", [m.label() for m in outcome.missing])
    if outcome.eliminated_by:
        return _bounded("eliminated: 0 in ", [str(s) for s in outcome.eliminated_by])
    return ""


_NO_SUBJECTS = Outcome(None, None, None, None, INCOMPLETE, NO_MENTION, extra="no subjects")


def _bounded(prefix: str, items: list[str]) -> str:
    text = prefix + ", ".join(items)
    if len(text) <= REASON_MAX_LENGTH:
        return text
    kept: list[str] = []
    for index, item in enumerate(items):
        rest = len(items) - index
        candidate = prefix + ", ".join([*kept, item]) + f", … (+{rest - 1})"
        if len(candidate) > REASON_MAX_LENGTH:
            break
        kept.append(item)
    return prefix + ", ".join(kept) + f", … (+{len(items) - len(kept)})"


class _Part(NamedTuple):
    """One counted component, ready for the arithmetic."""

    component: int
    getter: Callable[[Sequence[int | None]], tuple]
    coefficients: tuple[int, ...]
    half: int  # 100 * K: average units = (2 * 10**d * N + 100 * K) // (200 * K)
    whole: int  # 200 * K
    factor: int  # p_c


class _Weighting(NamedTuple):
    parts: tuple[_Part, ...]
    counted: tuple[int, ...]  # component indexes that count
    required: tuple[int, ...]  # rule indexes whose mark is needed
    required_getter: Callable[[Sequence[int | None]], tuple] | None  # None: every rule
    eliminatory: tuple[tuple[int, Callable[[Sequence[int | None]], tuple]], ...]
    denominator: int  # Q: general (units) = round(sum(p_c * N_c) / Q)


def _getter(indexes: Sequence[int]) -> Callable[[Sequence[int | None]], tuple]:
    if len(indexes) == 1:
        only = indexes[0]
        return lambda marks: (marks[only],)
    return itemgetter(*indexes)


class Scheme:
    """The subjects and coefficients of one track, compiled for the engine.

    `rules` fixes the order of the mark sequences that `evaluate` takes; `index` maps
    (subject, component) to a position in it. A scheme grades hundreds of thousands of
    candidates: everything that does not depend on the marks is worked out here, once.
    """

    def __init__(self, rules: Iterable[SubjectRule], config: GradingConfig = DEFAULT_CONFIG):
        self.rules: tuple[SubjectRule, ...] = tuple(rules)
        self.config = config
        self.index: dict[tuple[Any, str], int] = {}
        coefficients: list[Fraction] = []
        for position, rule in enumerate(self.rules):
            if rule.component not in COMPONENTS:
                raise GradingError(f"unknown component {rule.component!r}")
            key = (rule.subject, rule.component)
            if key in self.index:
                raise GradingError(f"{rule.subject} appears twice in {rule.component}")
            coefficient = _fraction(rule.coefficient, "coefficient")
            if coefficient <= 0:
                raise GradingError(f"the coefficient of {rule.subject} must be positive")
            self.index[key] = position
            coefficients.append(coefficient)
        scale = math.lcm(*(c.denominator for c in coefficients)) if coefficients else 1
        self._k = [int(c * scale) for c in coefficients]
        self._positions: list[tuple[int, ...]] = [
            tuple(i for i, r in enumerate(self.rules) if r.component == component)
            for component in COMPONENTS
        ]
        self._coefficients = [tuple(self._k[i] for i in p) for p in self._positions]
        self._sums = [sum(ks) for ks in self._coefficients]
        self._decimal_scale = 10**config.decimals
        self._two_scale = 2 * self._decimal_scale
        self._round_components = config.round_component_averages
        self._eliminatory_mark = (
            None if config.eliminatory_mark is None else _mark_hundredths(config.eliminatory_mark)
        )
        # Decision and mention of a candidate who is not eliminated, by rounded average.
        admission = config.units(config.admission_threshold)
        catch_up = config.units(config.catch_up_threshold)
        bands = [(config.units(low), mention) for low, mention in config.mention_bands]
        top = 20 * self._decimal_scale
        self._decisions = tuple(
            ADMITTED if u >= admission else CATCH_UP_ELIGIBLE if u >= catch_up else FAILED
            for u in range(top + 1)
        )
        self._mentions = tuple(
            max(((low, m) for low, m in bands if u >= low), default=(0, NO_MENTION))[1]
            if u >= admission
            else NO_MENTION
            for u in range(top + 1)
        )
        self._school = self._weighting(free=False)
        self._free = self._weighting(free=True)

    def __len__(self) -> int:
        return len(self.rules)

    def _weighting(self, free: bool) -> _Weighting | None:
        weights = self.config.weights(free)
        counted = tuple(c for c in range(3) if weights[c] > 0 and self._positions[c])
        total = sum((weights[c] for c in counted), Fraction(0))
        if not counted or total == 0:
            return None
        if self._round_components:
            # general = sum(w_c * u_c / 10**d) / W, u_c the rounded component average in units
            shares = [weights[c] / (total * self._decimal_scale) for c in counted]
        else:
            # general = sum(w_c * N_c / (100 * K_c)) / W, N_c = sum(k_i * mark_i in hundredths)
            shares = [weights[c] / (total * _MARK_SCALE * self._sums[c]) for c in counted]
        denominator = math.lcm(*(s.denominator for s in shares))
        parts = tuple(
            _Part(
                c,
                _getter(self._positions[c]),
                self._coefficients[c],
                _MARK_SCALE * self._sums[c],
                2 * _MARK_SCALE * self._sums[c],
                int(share * denominator),
            )
            for c, share in zip(counted, shares, strict=True)
        )
        required = tuple(i for c in counted for i in self._positions[c])
        eliminatory = tuple(
            (c, _getter(self._positions[c]))
            for c in counted
            if COMPONENTS[c] in self.config.eliminatory_components
        )
        return _Weighting(
            parts,
            counted,
            required,
            None if len(required) == len(self.rules) else _getter(required),
            eliminatory if self._eliminatory_mark is not None else (),
            denominator,
        )

    # -- The engine -------------------------------------------------------------------------

    def evaluate(self, marks: Sequence[int | None], free: bool = False) -> Outcome:
        """Grade one candidate of the normal session. `marks[i]` is the mark of `rules[i]` in
        hundredths (0..2000), or None when missing."""
        weighting = self._free if free else self._school
        if weighting is None:
            return _NO_SUBJECTS
        needed = marks if weighting.required_getter is None else weighting.required_getter(marks)
        if None in needed:
            return self._incomplete(marks, weighting)
        averages = [None, None, None]
        numerator = 0
        two_scale = self._two_scale
        rounded = self._round_components
        for c, getter, coefficients, half, whole, factor in weighting.parts:
            total = sum(map(mul, coefficients, getter(marks)))
            average = (two_scale * total + half) // whole
            averages[c] = average
            numerator += factor * (average if rounded else total)
        q = weighting.denominator
        general = (two_scale * numerator + q) // (2 * q)
        limit = self._eliminatory_mark
        for _c, getter in weighting.eliminatory:
            if min(getter(marks)) <= limit:  # type: ignore[operator]
                return Outcome(
                    averages[0],
                    averages[1],
                    averages[2],
                    general,
                    FAILED,
                    NO_MENTION,
                    (),
                    self._eliminated(marks, weighting),
                )
        return Outcome(
            averages[0],
            averages[1],
            averages[2],
            general,
            self._decisions[general],
            self._mentions[general],
        )

    def evaluate_catch_up(
        self,
        marks: Sequence[int | None],
        catch_up_marks: Sequence[int | None],
        free: bool = False,
    ) -> Outcome:
        """Grade one candidate after the catch-up session: for each national subject the better
        of the two marks counts (the catch-up mark is required), continuous and regional marks
        are kept, the same rules apply, and there is no second catch-up: below the admission
        threshold the candidate fails."""
        weighting = self._free if free else self._school
        if weighting is None:
            return _NO_SUBJECTS
        merged = list(marks)
        missing_catch_up: list[Missing] = []
        for i in self._positions[COMPONENTS.index(NATIONAL)]:
            second = catch_up_marks[i]
            if second is None:
                missing_catch_up.append(Missing(self.rules[i].subject, NATIONAL, CATCH_UP))
                continue
            first = merged[i]
            merged[i] = second if first is None or second > first else first
        if missing_catch_up:
            outcome = self._incomplete(merged, weighting)
            missing = tuple(m for m in outcome.missing if m.component != NATIONAL)
            return outcome._replace(national=None, missing=missing + tuple(missing_catch_up))
        outcome = self.evaluate(merged, free)
        if outcome.decision == CATCH_UP_ELIGIBLE:
            return outcome._replace(decision=FAILED)
        return outcome

    def _incomplete(self, marks: Sequence[int | None], weighting: _Weighting) -> Outcome:
        """The averages of the complete components, and what is missing."""
        averages: list[int | None] = [None, None, None]
        missing: list[Missing] = []
        two_scale = self._two_scale
        for c, getter, coefficients, half, whole, _factor in weighting.parts:
            values = getter(marks)
            if None in values:
                missing.extend(
                    Missing(self.rules[p].subject, self.rules[p].component)
                    for p in self._positions[c]
                    if marks[p] is None
                )
                continue
            averages[c] = (two_scale * sum(map(mul, coefficients, values)) + half) // whole
        return Outcome(
            averages[0], averages[1], averages[2], None, INCOMPLETE, NO_MENTION, tuple(missing)
        )

    def _eliminated(self, marks: Sequence[int | None], weighting: _Weighting) -> tuple[Any, ...]:
        limit = self._eliminatory_mark
        found: list[Any] = []
        for c, getter in weighting.eliminatory:
            for p, value in zip(self._positions[c], getter(marks), strict=True):
                if value <= limit:  # type: ignore[operator]
                    found.append(self.rules[p].subject)
        return tuple(found)

    # -- Marks keyed by (subject, component) -------------------------------------------------

    def aligned(self, marks: Mapping[tuple[Any, str], Any]) -> list[int | None]:
        """The marks of a mapping in this scheme's order, in hundredths. Marks for subjects
        outside the scheme raise GradingError: they would otherwise be ignored silently."""
        out: list[int | None] = [None] * len(self.rules)
        for key, value in marks.items():
            position = self.index.get(key)
            if position is None:
                raise GradingError(f"{key[0]} is not a {key[1]} subject of this track")
            out[position] = None if value is None else _mark_hundredths(value)
        return out


# --- The public, Decimal-based interface. ------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A candidate's result, averages as Decimals with `decimals` places."""

    continuous_average: Decimal | None
    regional_average: Decimal | None
    national_average: Decimal | None
    general_average: Decimal | None
    decision: str
    mention: str = NO_MENTION
    reason: str = ""
    missing: tuple[str, ...] = field(default=())
    eliminated_by: tuple[Any, ...] = field(default=())


def to_result(outcome: Outcome, decimals: int = 2) -> Result:
    def as_decimal(units: int | None) -> Decimal | None:
        return None if units is None else Decimal(units).scaleb(-decimals)

    return Result(
        as_decimal(outcome.continuous),
        as_decimal(outcome.regional),
        as_decimal(outcome.national),
        as_decimal(outcome.general),
        outcome.decision,
        outcome.mention,
        outcome.reason,
        tuple(m.label() for m in outcome.missing),
        outcome.eliminated_by,
    )


def grade(
    rules: Iterable[SubjectRule] | Scheme,
    marks: Mapping[tuple[Any, str], Any],
    *,
    free: bool = False,
    config: GradingConfig = DEFAULT_CONFIG,
) -> Result:
    """The normal-session result of one candidate. `marks` maps (subject, component) to a mark
    (Decimal, int or a string such as "12.5"); a subject of the track absent from `marks` (or
    mapped to None) is missing."""
    scheme = rules if isinstance(rules, Scheme) else Scheme(rules, config)
    return to_result(scheme.evaluate(scheme.aligned(marks), free), scheme.config.decimals)


def grade_catch_up(
    rules: Iterable[SubjectRule] | Scheme,
    marks: Mapping[tuple[Any, str], Any],
    catch_up_marks: Mapping[Any, Any],
    *,
    free: bool = False,
    config: GradingConfig = DEFAULT_CONFIG,
) -> Result:
    """The result after the catch-up session. `marks` are the normal session's (every
    component); `catch_up_marks` maps each national subject to its catch-up mark."""
    scheme = rules if isinstance(rules, Scheme) else Scheme(rules, config)
    second = scheme.aligned({(subject, NATIONAL): mark for subject, mark in catch_up_marks.items()})
    outcome = scheme.evaluate_catch_up(scheme.aligned(marks), second, free)
    return to_result(outcome, scheme.config.decimals)


def mention_for(average: Decimal, config: GradingConfig = DEFAULT_CONFIG) -> str:
    """The mention of an admitted candidate with this (rounded) average."""
    units = config.units(average, "average")
    mention = NO_MENTION
    for low, name in config.mention_bands:
        if units >= config.units(low):
            mention = name
    return mention

"""Reading and checking a grade file (CSV or XLSX) before anything is stored.

Pure: no Django import. The file is read by the candidate import's reader
(`candidates.importing.open_table`: UTF-8, UTF-16 or Windows-1256 CSV with any of the usual
separators, or the first sheet of an XLSX workbook), and problems are reported the same way: as
`RowError(line, column, code, params)` that `results.services` turns into sentences.

One row per candidate, subject and component:

    massar_code, subject_code, component, mark[, sitting]

`component` is continuous, regional or national; `mark` is /20 with at most two decimals, a
decimal comma accepted ("12,5"); `sitting` is normal (the default) or catch_up. Every row is
checked against the session: the candidate exists and is within the uploader's scope, the
subject belongs to the candidate's track in that component, a free candidate has no continuous
assessment, catch-up marks are national-exam marks of candidates convened to the catch-up, and
no (candidate, subject, component, sitting) appears twice.

Speed matters (a national file has five million rows): the columns whose values repeat (marks,
subjects, components, sittings) are checked once per distinct value.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from candidates.identifiers import is_valid_massar, normalize_massar
from candidates.importing import Code as FileCode
from candidates.importing import (
    FileProblem,
    RowError,
    check_header,
    fit_cells,
    open_table,
    write_csv,
)

COLUMNS: tuple[str, ...] = ("massar_code", "subject_code", "component", "mark", "sitting")
OPTIONAL_COLUMNS = frozenset({"sitting"})
REQUIRED_COLUMNS = frozenset(COLUMNS) - OPTIONAL_COLUMNS
COMPONENTS: tuple[str, ...] = ("continuous", "regional", "national")
SITTINGS: tuple[str, ...] = ("normal", "catch_up")
NORMAL, CATCH_UP = SITTINGS
MARK_MAX_HUNDREDTHS = 2000
PROGRESS_EVERY = 50_000
_MEMO_LIMIT = 100_000


class Code:
    """Error codes; results.services.ERROR_MESSAGES has a sentence for each."""

    # File-level problems, shared with the candidate import.
    FILE_EMPTY = FileCode.FILE_EMPTY
    FILE_TOO_LARGE = FileCode.FILE_TOO_LARGE
    FILE_NOT_TABULAR = FileCode.FILE_NOT_TABULAR
    FILE_LEGACY_XLS = FileCode.FILE_LEGACY_XLS
    FILE_BAD_XLSX = FileCode.FILE_BAD_XLSX
    FILE_BAD_ENCODING = FileCode.FILE_BAD_ENCODING
    FILE_BAD_CSV = FileCode.FILE_BAD_CSV
    FILE_NO_ROWS = "grades_file_no_rows"
    HEADER_UNKNOWN = FileCode.HEADER_UNKNOWN
    HEADER_DUPLICATE = FileCode.HEADER_DUPLICATE
    HEADER_REQUIRED_MISSING = FileCode.HEADER_REQUIRED_MISSING
    TOO_MANY_CELLS = FileCode.TOO_MANY_CELLS
    REQUIRED = FileCode.REQUIRED
    MASSAR_INVALID = FileCode.MASSAR_INVALID
    # Grade rows.
    CANDIDATE_UNKNOWN = "grade_candidate_unknown"
    CANDIDATE_OUT_OF_SCOPE = "grade_candidate_out_of_scope"
    SUBJECT_UNKNOWN = "grade_subject_unknown"
    COMPONENT_INVALID = "grade_component_invalid"
    SUBJECT_NOT_IN_TRACK = "grade_subject_not_in_track"
    FREE_CANDIDATE_CONTINUOUS = "grade_free_candidate_continuous"
    MARK_NOT_NUMBER = "grade_mark_not_number"
    MARK_OUT_OF_RANGE = "grade_mark_out_of_range"
    MARK_TOO_PRECISE = "grade_mark_too_precise"
    SITTING_INVALID = "grade_sitting_invalid"
    CATCH_UP_NOT_NATIONAL = "grade_catch_up_not_national"
    CATCH_UP_NOT_ELIGIBLE = "grade_catch_up_not_eligible"
    DUPLICATE_GRADE = "grade_duplicate"


class Problem(NamedTuple):
    code: str
    params: Mapping[str, Any]


class CandidateRef(NamedTuple):
    """What a row needs to know about a candidate of the session."""

    id: Any
    track: Any
    track_code: str
    free: bool
    in_scope: bool


@dataclass(frozen=True)
class GradeRules:
    """What rows are checked against. `candidates` maps the Massar codes of the session to
    CandidateRef; `track_subjects` holds (track, subject id, component) of every subject of
    every track; `catch_up_eligible` holds the ids of candidates convened to the catch-up
    session (None: nobody is, e.g. the normal session has not been computed)."""

    candidates: Mapping[str, CandidateRef]
    subjects: Mapping[str, Any]
    track_subjects: Collection[tuple[Any, Any, str]]
    catch_up_eligible: Collection[Any] | None = None


class _Combo(NamedTuple):
    """A valid (subject, component, sitting) for a track and candidate type."""

    subject: Any
    subject_code: str
    component: str
    sitting: str
    index: int


class GradeRow(NamedTuple):
    line: int
    candidate: Any
    subject: Any
    component: str
    sitting: str
    mark: int  # hundredths


@dataclass
class GradeParseResult:
    rows: list[GradeRow]
    errors: list[RowError]
    total_rows: int = 0
    source_format: str = ""
    file_error: bool = False


_NO_PARAMS: Mapping[str, Any] = {}
_REQUIRED = Problem(Code.REQUIRED, _NO_PARAMS)


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime.datetime):
        return raw.date().isoformat()
    return str(raw).strip()


def _is_blank(cells: list[Any]) -> bool:
    for cell in cells:
        if cell is not None and cell != "" and not (isinstance(cell, str) and not cell.strip()):
            return False
    return True


def check_mark(raw: Any) -> int | Problem:
    """A mark cell as hundredths (0..2000), or the Problem with it. Accepts a decimal comma,
    spaces, and spreadsheet numbers (12.5 read as a float is 12.5, not 12.4999…)."""
    if raw is None:
        return _REQUIRED
    if isinstance(raw, bool):
        return Problem(Code.MARK_NOT_NUMBER, {"value": str(raw)})
    if isinstance(raw, int):
        value = Decimal(raw)
        shown = str(raw)
    elif isinstance(raw, float):
        shown = repr(raw)
        try:
            value = Decimal(shown)
        except InvalidOperation:
            return Problem(Code.MARK_NOT_NUMBER, {"value": shown})
    elif isinstance(raw, Decimal):
        value, shown = raw, str(raw)
    else:
        shown = _text(raw)
        if not shown:
            return _REQUIRED
        text = shown.replace("\u00a0", "").replace(" ", "").replace(",", ".")
        if not text or not all(ch.isascii() and (ch.isdigit() or ch in ".+-") for ch in text):
            return Problem(Code.MARK_NOT_NUMBER, {"value": shown})
        try:
            value = Decimal(text)
        except InvalidOperation:
            return Problem(Code.MARK_NOT_NUMBER, {"value": shown})
    if not value.is_finite():
        return Problem(Code.MARK_NOT_NUMBER, {"value": shown})
    if not 0 <= value <= 20:
        return Problem(Code.MARK_OUT_OF_RANGE, {"value": shown})
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        return Problem(Code.MARK_TOO_PRECISE, {"value": shown})
    return int(scaled)


def _check_component(raw: Any) -> str | Problem:
    value = _text(raw)
    if not value:
        return _REQUIRED
    lowered = value.lower()
    if lowered not in COMPONENTS:
        return Problem(Code.COMPONENT_INVALID, {"value": value})
    return lowered


def _check_sitting(raw: Any) -> str | Problem:
    value = _text(raw)
    if not value:
        return NORMAL
    lowered = value.lower().replace("-", "_")
    if lowered not in SITTINGS:
        return Problem(Code.SITTING_INVALID, {"value": value})
    return lowered


def _subject_checker(subjects: Mapping[str, Any]) -> Callable[[Any], Any]:
    def check(raw: Any) -> Any:
        value = _text(raw)
        if not value:
            return _REQUIRED
        code = value if value in subjects else value.upper()
        if code not in subjects:
            return Problem(Code.SUBJECT_UNKNOWN, {"value": value})
        return (subjects[code], code)

    return check


def _candidate(raw: Any, candidates: Mapping[str, CandidateRef]) -> CandidateRef | Problem:
    found = candidates.get(raw) if isinstance(raw, str) else None
    if found is not None:
        return found
    value = _text(raw)
    if not value:
        return _REQUIRED
    code = normalize_massar(value)
    if not is_valid_massar(code):
        return Problem(Code.MASSAR_INVALID, {"value": value})
    found = candidates.get(code)
    if found is None:
        return Problem(Code.CANDIDATE_UNKNOWN, {"value": code})
    return found


def _header(cells: list[Any]) -> tuple[list[str], list[RowError]]:
    return check_header(cells, COLUMNS, REQUIRED_COLUMNS)


_COLUMN_ORDER = {name: position for position, name in enumerate(COLUMNS)}


def error_order(error: RowError) -> tuple[int, int]:
    return error.line, _COLUMN_ORDER.get(error.column, -1)


def _memo_check(memo: dict[Any, Any], check: Callable[[Any], Any], raw: Any) -> Any:
    result = memo.get(raw, memo)
    if result is memo:
        result = check(raw)
        if len(memo) < _MEMO_LIMIT:
            try:
                memo[raw] = result
            except TypeError:  # an unhashable cell value
                pass
    return result


def parse_grades(
    data: bytes,
    rules: GradeRules,
    *,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GradeParseResult:
    """Read and check every row of a grade file; returns the valid rows and every problem
    found (sorted by line and column). `progress(rows_checked, estimated_rows)` is called
    every PROGRESS_EVERY rows."""
    if not data:
        return GradeParseResult([], [RowError(0, "", Code.FILE_EMPTY, {})], file_error=True)
    if max_bytes is not None and len(data) > max_bytes:
        error = RowError(0, "", Code.FILE_TOO_LARGE, {"max_bytes": max_bytes, "size": len(data)})
        return GradeParseResult([], [error], file_error=True)
    try:
        table = open_table(data)
        return _check_rows(table, rules, progress)
    except FileProblem as problem:
        return GradeParseResult([], [problem.error], file_error=True)


def _check_rows(table, rules: GradeRules, progress) -> GradeParseResult:
    rows = table.rows
    header_cells = None
    for _line, cells in rows:
        if not _is_blank(cells):
            header_cells = cells
            break
    if header_cells is None:
        return GradeParseResult([], [RowError(0, "", Code.FILE_EMPTY, {})], file_error=True)
    names, header_errors = _header(header_cells)
    if header_errors:
        return GradeParseResult(
            [], header_errors, source_format=table.source_format, file_error=True
        )
    width = len(names)
    at = {name: position for position, name in enumerate(names) if name}
    p_massar, p_subject, p_component, p_mark = (
        at["massar_code"],
        at["subject_code"],
        at["component"],
        at["mark"],
    )
    p_sitting = at.get("sitting")

    candidates = rules.candidates
    track_subjects = rules.track_subjects
    eligible = rules.catch_up_eligible
    check_subject = _subject_checker(rules.subjects)
    memos: dict[str, dict[Any, Any]] = {"subject": {}, "component": {}, "sitting": {}}
    checks = {
        "subject": check_subject,
        "component": _check_component,
        "sitting": _check_sitting,
    }
    # (track, free, raw subject, raw component, raw sitting) -> _Combo or [(column, Problem)]
    combo_memo: dict[Any, Any] = {}
    combo_index: dict[tuple[Any, str, str], int] = {}
    mark_memo: dict[Any, Any] = {}
    miss = combo_memo  # a sentinel no cell can be
    problem_type = Problem
    estimated = table.estimated_rows

    def check_columns(raw_subject: Any, raw_component: Any, raw_sitting: Any) -> list:
        """Each column on its own: [(column, value or Problem)]."""
        out = []
        for column, name, raw in (
            ("subject_code", "subject", raw_subject),
            ("component", "component", raw_component),
            ("sitting", "sitting", raw_sitting),
        ):
            if name == "sitting" and p_sitting is None:
                out.append((column, NORMAL))
            else:
                out.append((column, _memo_check(memos[name], checks[name], raw)))
        return out

    def check_combo(candidate: CandidateRef, raw_subject, raw_component, raw_sitting) -> Any:
        checked = check_columns(raw_subject, raw_component, raw_sitting)
        problems = [(c, v) for c, v in checked if v.__class__ is problem_type]
        if problems:
            return problems
        (subject_id, subject_code), component, sitting = (v for _c, v in checked)
        if (candidate.track, subject_id, component) not in track_subjects:
            params = {"value": subject_code, "component": component, "track": candidate.track_code}
            return [("subject_code", Problem(Code.SUBJECT_NOT_IN_TRACK, params))]
        if component == "continuous" and candidate.free:
            return [("component", Problem(Code.FREE_CANDIDATE_CONTINUOUS, _NO_PARAMS))]
        if sitting == CATCH_UP and component != "national":
            return [("sitting", Problem(Code.CATCH_UP_NOT_NATIONAL, {"component": component}))]
        index = combo_index.setdefault((subject_id, component, sitting), len(combo_index))
        return _Combo(subject_id, subject_code, component, sitting, index)

    valid: list[GradeRow] = []
    errors: list[RowError] = []
    first_line: dict[Any, int] = {}
    total = 0

    for line, cells in rows:
        head = cells[0] if cells else None
        if (head is None or head == "" or (head.__class__ is str and head.isspace())) and (
            _is_blank(cells)
        ):
            continue
        total += 1
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress(total, max(estimated, total))
        count = len(cells)
        if count != width:
            cells = fit_cells(cells, width)
            if cells is None:
                errors.append(
                    RowError(line, "", Code.TOO_MANY_CELLS, {"count": count, "expected": width})
                )
                continue
        raw_massar = cells[p_massar]
        raw_subject, raw_component = cells[p_subject], cells[p_component]
        raw_sitting = None if p_sitting is None else cells[p_sitting]
        candidate = candidates.get(raw_massar) if raw_massar.__class__ is str else None
        if candidate is None:
            candidate = _candidate(raw_massar, candidates)
        mark = mark_memo.get(cells[p_mark], miss)
        if mark is miss:
            mark = _memo_check(mark_memo, check_mark, cells[p_mark])

        if candidate.__class__ is problem_type or not candidate.in_scope:
            if candidate.__class__ is problem_type:
                errors.append(RowError(line, "massar_code", candidate.code, candidate.params))
            else:
                errors.append(
                    RowError(
                        line,
                        "massar_code",
                        Code.CANDIDATE_OUT_OF_SCOPE,
                        {"value": _text(raw_massar)},
                    )
                )
            combo: Any = [
                (c, v)
                for c, v in check_columns(raw_subject, raw_component, raw_sitting)
                if v.__class__ is problem_type
            ]
        else:
            key = (candidate.track, candidate.free, raw_subject, raw_component, raw_sitting)
            combo = combo_memo.get(key, miss)
            if combo is miss:
                combo = check_combo(candidate, raw_subject, raw_component, raw_sitting)
                if len(combo_memo) < _MEMO_LIMIT:
                    combo_memo[key] = combo
        if combo.__class__ is not _Combo:
            for column, problem in combo:
                if column != "mark":
                    errors.append(RowError(line, column, problem.code, problem.params))
            if mark.__class__ is problem_type:
                errors.append(RowError(line, "mark", mark.code, mark.params))
            continue
        if mark.__class__ is problem_type:
            errors.append(RowError(line, "mark", mark.code, mark.params))
            continue
        if combo.sitting == CATCH_UP and (eligible is None or candidate.id not in eligible):
            errors.append(RowError(line, "sitting", Code.CATCH_UP_NOT_ELIGIBLE, _NO_PARAMS))
            continue
        cid = candidate.id
        key = (
            cid * 65536 + combo.index
            if cid.__class__ is int and combo.index < 65536
            else (
                cid,
                combo.index,
            )
        )
        first = first_line.setdefault(key, line)
        if first != line:
            errors.append(
                RowError(
                    line,
                    "subject_code",
                    Code.DUPLICATE_GRADE,
                    {
                        "first_line": first,
                        "value": combo.subject_code,
                        "component": combo.component,
                    },
                )
            )
            continue
        valid.append(GradeRow(line, cid, combo.subject, combo.component, combo.sitting, mark))

    if progress is not None:
        progress(total, total)
    if total == 0:
        return GradeParseResult(
            [], [RowError(0, "", Code.FILE_NO_ROWS, {})], 0, table.source_format, True
        )
    errors.sort(key=error_order)
    return GradeParseResult(valid, errors, total, table.source_format)


def format_mark(hundredths: int) -> str:
    """12.5 as "12.50": the form used in files, audit entries and pages."""
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def grades_csv(rows: Iterable[Iterable[Any]], with_sitting: bool = True) -> str:
    """A grade file as the importer reads it (tests, templates, the benchmark)."""
    columns = COLUMNS if with_sitting else COLUMNS[:4]
    return write_csv(rows, columns)


TEMPLATE_ROWS: tuple[tuple[str, ...], ...] = (
    ("R130046852", "MATH", "national", "14.25", "normal"),
    ("R130046852", "FR", "regional", "12,5", "normal"),
    ("R130046852", "MATH", "continuous", "16", "normal"),
    ("R130046852", "MATH", "national", "9.75", "catch_up"),
)

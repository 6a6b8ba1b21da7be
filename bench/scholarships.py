"""Benchmark: score and rank N scholarship applications under a budget.

    .venv/bin/python bench/scholarships.py [--applications 300000] [--seed 7]

Pure Python over scholarships.scoring (no Django, no database): the commission's ranking is
CPU work on values read in one query, so this measures the rules themselves. Synthetic
applicants have realistic spreads (RSU index 3 to 12, household of 1 to 10, yearly income 0 to
120,000 MAD, bac average 8 to 19 or unknown); the budget is 40% of them in grants and an amount
that runs out first, with the 2025 amounts. Prints the time, applications per second and the
proposals. Target (issue 6): under 30 s for 300,000 applications.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scholarships import scoring  # noqa: E402 - after the path is set

TARGET_SECONDS = 30.0


def applicants(count: int, seed: int) -> list[scoring.Applicant]:
    rng = random.Random(seed)
    start = 1_780_000_000.0
    return [
        scoring.Applicant(
            id=i,
            rsu_index=round(rng.uniform(3, 12), 7),
            household_size=rng.randint(1, 10),
            yearly_income=float(rng.randrange(0, 120_000, 500)),
            submitted_at=start + rng.randrange(0, 30 * 86400),
            general_average=round(rng.uniform(8, 19), 2) if rng.random() < 0.8 else None,
        )
        for i in range(1, count + 1)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    people = applicants(args.applications, args.seed)
    rules = scoring.Rules(
        weights=dict(scoring.DEFAULT_WEIGHTS),
        rsu_threshold=9.3264284,
        income_ceiling=30_000.0,
        full_grant_max_index=8.5,
        full_amount=Decimal("6334"),
        half_amount=Decimal("3167"),
        budget_grants=int(args.applications * 0.4),
        budget_amount=Decimal(args.applications) * Decimal("2000"),
    )
    started = time.perf_counter()
    ranked = scoring.rank(people, rules)
    elapsed = time.perf_counter() - started
    summary = scoring.totals(ranked, rules)
    rate = len(ranked) / elapsed if elapsed else float("inf")
    verdict = "OK" if elapsed < TARGET_SECONDS else "TOO SLOW"
    print(f"scholarships: scored and ranked {len(ranked):,} applications in {elapsed:.2f} s")
    print(f"  {rate:,.0f} applications per second (target: {TARGET_SECONDS:.0f} s) {verdict}")
    print(
        f"  proposals: {summary['full']:,} full, {summary['half']:,} half, "
        f"{summary['refused']:,} refused; {summary['amount']:,} MAD"
    )
    return 0 if elapsed < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())

"""The production settings, plus the benchmark's comparison view (bench/results_day_urls.py)."""

from bac.settings import *  # noqa: F403

ROOT_URLCONF = "results_day_urls"

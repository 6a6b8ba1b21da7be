"""Browser tests: the fixtures live in tests/browser_support.py, shared through tests/conftest.py
so that one Playwright instance serves every module (two in one thread cannot coexist)."""

from tests.browser_support import assert_accessible, submit

__all__ = ["assert_accessible", "submit"]

"""Browser-test support, shared by every test module that drives a browser: real Chromium through Playwright, at phone and desktop widths, with an axe-core check.

Debian's Chromium is used (never a browser downloaded by Playwright). Without it the browser
tests are skipped with a message, except under CI=true where a missing browser fails the run.
"""

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the tests
# themselves are ordinary synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
WIDTHS = {"phone": 360, "tablet": 768, "desktop": 1280}


@pytest.fixture(scope="session")
def chromium_browser():
    if not os.path.exists(CHROMIUM):
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's chromium to run browser tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium_browser, live_server, settings):
    """`open_page(lang, width)` returns a fresh page in its own context at that width."""
    settings.SECURE_SSL_REDIRECT = False
    contexts = []

    def make(lang: str = "fr", width: str = "phone"):
        context = chromium_browser.new_context(
            viewport={"width": WIDTHS[width], "height": 800},
            locale=lang,
            extra_http_headers={"Accept-Language": lang},
            base_url=live_server.url,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def assert_accessible(page, context: str = "") -> None:
    """Run axe-core on the page: no serious or critical violation, and no horizontal scroll."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{context} {page.url}: " + "; ".join(bad)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{context} {page.url}: the page scrolls sideways by {overflow}px"


def submit(page, field: str) -> None:
    """Submit the form that holds `field` (pages may carry a second form, e.g. to resend a code)."""
    form = page.locator(field).locator("xpath=ancestor::form")
    with page.expect_navigation():
        form.locator("button[type=submit]").first.click()

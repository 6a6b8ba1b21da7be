"""In real Chromium, with axe-core: the public privacy notice (Arabic, phone) and a candidate
changing a choice and downloading their data (French, phone)."""

from __future__ import annotations

import zipfile

import pytest
from django.conf import settings
from django.test import Client

from privacy.services import has_consented
from tests.browser_support import assert_accessible, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in_at(page, user, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )


def test_the_privacy_notice_reads_on_a_phone_in_arabic(open_page, db):
    page = open_page("ar", "phone")
    page.goto("/privacy/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("h1").inner_text() == "معطياتكم الشخصية"
    assert page.locator("#register li.card").count() >= 10
    assert_accessible(page, "privacy notice")


def test_a_candidate_changes_a_choice_and_downloads_their_data(
    open_page, seeded, candidate_a, live_server, tmp_path
):
    page = open_page("fr", "phone")
    signed_in_at(page, candidate_a.user, live_server.url)
    page.goto("/privacy/mine/")
    assert page.locator("#document-views tbody tr").count() >= 2
    assert_accessible(page, "my privacy")
    page.check("#topic-published_lists input[value=yes]")
    submit(page, "#topic-published_lists input[value=yes]")
    page.wait_for_url("**/privacy/mine/")
    assert has_consented(candidate_a, "published_lists")
    assert_accessible(page, "my privacy after the change")
    with page.expect_download() as download:
        page.click("#export-button")
    path = tmp_path / "export.zip"
    download.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert "data.json" in names and any(n.startswith("documents/cnie-") for n in names)

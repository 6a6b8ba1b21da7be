import pytest

from .conftest import assert_accessible


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop"), ("en", "tablet")])
def test_the_landing_page_is_accessible_in_each_language(open_page, lang, width):
    page = open_page(lang, width)
    page.goto("/")
    expected_dir = "rtl" if lang == "ar" else "ltr"
    assert page.get_attribute("html", "dir") == expected_dir
    assert page.get_attribute("html", "lang") == lang
    assert_accessible(page, f"landing {lang} {width}")

import os

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
import pytest
from playwright.sync_api import sync_playwright

from notifications.sms import MemorySMSBackend
from .conftest import last_sms_code


@pytest.mark.django_db(transaction=True)
def test_screens(live_server, candidate_a, clerk):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = b.new_page(viewport={"width": 360, "height": 800}, locale="en-US")
        errors = []
        page.on("console", lambda m: errors.append(m.text))
        page.goto(live_server.url + "/account/sign-in/")
        page.screenshot(path="/tmp/s1.png", full_page=True)
        page.fill("#id_username", "R130000001")
        page.fill("#id_password", "wrong")
        page.click("form.stack button[type=submit]")
        page.screenshot(path="/tmp/s2.png", full_page=True)
        page.fill("#id_password", "correct horse battery staple")
        page.click("form.stack button[type=submit]")
        page.screenshot(path="/tmp/s3.png", full_page=True)
        page.click("form.stack button[type=submit]")
        page.screenshot(path="/tmp/s4.png", full_page=True)
        page.fill("#id_code", "000000")
        page.click("form.stack button[type=submit]")
        page.screenshot(path="/tmp/s5.png", full_page=True)
        ctx2 = b.new_page(viewport={"width": 360, "height": 800}, locale="en-US")
        ctx2.goto(live_server.url + "/account/sign-in/")
        ctx2.fill("#id_username", "clerk")
        ctx2.fill("#id_password", "correct horse battery staple")
        ctx2.click("form.stack button[type=submit]")
        ctx2.screenshot(path="/tmp/s6.png", full_page=True)
        ctx2.goto(live_server.url + "/account/activate/")
        ctx2.screenshot(path="/tmp/s7.png", full_page=True)
        print(errors)
        b.close()

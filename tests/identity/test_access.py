from .conftest import is_signed_in, last_sms_code, send_code, submit_code


def test_a_candidate_cannot_reach_staff_pages(client_for, candidate_a):
    assert client_for(candidate_a.user).get("/staff/candidates/").status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in_with_next(client, db):
    response = client.get("/staff/candidates/")
    assert response.status_code == 302
    assert response.url.startswith("/account/sign-in/?next=")


def test_a_candidate_lands_on_the_local_page_asked_for(client, candidate_a):
    response = client.get("/account/sign-in/?next=/my-file/history/")
    assert 'name="next" value="/my-file/history/"' in response.content.decode()
    send_code(client, next="/my-file/history/")
    response = submit_code(client, last_sms_code())
    assert response.url == "/my-file/history/"


def test_an_outside_next_address_is_ignored(client, candidate_a):
    for evil in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        html = client.get("/account/sign-in/", {"next": evil}).content.decode()
        # The only "next" left is the language switcher's, which points back to this page.
        assert html.count('name="next"') == 1
    send_code(client, next="https://evil.example/")
    response = submit_code(client, last_sms_code())
    assert is_signed_in(client)
    assert response.url == "/"


def test_a_signed_in_person_visiting_sign_in_goes_home(client_for, clerk):
    response = client_for(clerk).get("/account/sign-in/")
    assert response.status_code == 302
    assert response.url == "/staff/candidates/"


def test_sign_out_only_accepts_post(client_for, candidate_a):
    signed_in = client_for(candidate_a.user)
    assert signed_in.get("/account/sign-out/").status_code == 405
    response = signed_in.post("/account/sign-out/")
    assert not is_signed_in(signed_in)
    # Nothing of the session stays on a shared phone (e.g. the offline diploma copy).
    assert "storage" in response["Clear-Site-Data"]

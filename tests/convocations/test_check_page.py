"""The invigilator's check page: staff only, works without JavaScript, and with it."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from convocations import codec, services

CHECK = "/convocation/check/"


@pytest.fixture
def code(candidate_a, ready, convocation_window):
    ready(candidate_a, photo=True)
    return services.qr_text(services.issue_convocation(candidate_a, actor=candidate_a.user))


def test_the_check_page_requires_signing_in(client, db):
    response = client.get(CHECK)
    assert response.status_code == 302 and "/account/sign-in/" in response.url


def test_candidates_cannot_use_the_check_page(client_for, candidate_a, code):
    client = client_for(candidate_a.user)
    assert client.get(CHECK).status_code == 403
    assert client.post(CHECK, {"qr": code}).status_code == 403


@pytest.mark.parametrize(
    "persona", ["clerk", "clerk_of_other_school", "academy_staff", "ministry_staff"]
)
def test_staff_of_any_scope_can_check_at_the_door(client_for, request, persona, code):
    client = client_for(request.getfixturevalue(persona))
    html = client.post(CHECK, {"qr": code}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Valid convocation" in html


def test_without_javascript_the_server_shows_the_same_answer_and_the_photo(
    client_for, clerk, candidate_a, code
):
    response = client_for(clerk).post(CHECK, {"qr": code + "\r\n"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "verdict-valid" in html
    assert "Mohammed EL AMRANI" in html and "محمد العمراني" in html
    assert "14/03/2008" in html
    assert "…" + candidate_a.cnie_number[-4:] in html
    assert "C-RABAT-01" in html and "Centre d&#x27;examen Lycée Ibn Sina" in html
    assert 'src="data:image/jpeg;base64,' in html


def test_a_forged_code_is_refused_with_its_reason_and_no_personal_data(
    client_for, clerk, candidate_a, code
):
    claims = services.claims_for(candidate_a.convocations.get())
    forged = codec.sign(claims, Ed25519PrivateKey.generate())
    html = client_for(clerk).post(CHECK, {"qr": forged}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "verdict-invalid" in html and "it is not genuine" in html
    assert "data:image" not in html and "El Amrani" not in html.split("check-result")[1]


def test_an_empty_submission_is_a_form_error(client_for, clerk, db):
    response = client_for(clerk).post(CHECK, {"qr": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_the_page_loads_its_script_from_the_site_and_has_no_inline_script(client_for, clerk, db):
    response = client_for(clerk).get(CHECK)
    html = response.content.decode()
    # The shared decoder first: both deferred, so they run in this order.
    assert (
        '<script src="/static/js/cose.js" defer></script>\n'
        '<script src="/static/convocations/check.js" defer></script>'
    ) in html
    assert html.count("<script") == 2 and html.count("<script src=") == 2
    assert "style=" not in html
    assert 'data-keys-url="/convocation/keys.json"' in html
    assert 'data-api-url="/convocation/api/verify"' in html
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_only_the_check_page_may_use_the_camera(client_for, clerk, db):
    assert client_for(clerk).get(CHECK)["Permissions-Policy"].startswith("camera=(self)")
    assert "camera=()" in client_for(clerk).get("/staff/")["Permissions-Policy"]

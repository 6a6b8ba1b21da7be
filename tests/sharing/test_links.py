"""Share links: created by the holder, hidden fields withheld, expiry, revocation, the view log,
authorisation between candidates, CSRF, and the rate limit that defeats token enumeration."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from sharing import disclosure, services
from sharing.models import ShareLink, ShareView

pytestmark = pytest.mark.django_db

URL = re.compile(r"https?://[^\"<\s]+/diploma/s/([A-Za-z0-9_-]+)/")


def create(client, **fields):
    data = {"label": "Université Mohammed V", "revealed": ["result"], "expires_in": "30"}
    data.update(fields)
    response = client.post(reverse("sharing:create_link"), data, follow=True)
    assert response.status_code == 200
    token = URL.search(response.content.decode()).group(1)
    return ShareLink.objects.latest("pk"), token, response


def test_the_holder_creates_a_link_whose_token_is_shown_once_and_stored_only_as_a_hash(
    holder, diploma_a
):
    link, token, response = create(holder)
    assert len(token) >= 32
    assert link.token_hash == services.token_digest(token) and token not in link.token_hash
    assert link.revealed == ["result"] and link.label == "Université Mohammed V"
    assert "<svg" in response.content.decode()  # the link's QR code
    # Shown once: the link's page no longer carries the token.
    again = holder.get(reverse("sharing:link", args=[link.pk])).content.decode()
    assert token not in again
    entry = AuditEntry.objects.get(action="share_link_created")
    assert entry.candidate_id == diploma_a.candidate_id
    assert entry.after["revealed"] == ["result"] and token not in str(entry.after)


def test_grades_birth_data_and_cnie_are_hidden_by_default(holder, diploma_a):
    form = holder.get(reverse("sharing:mine")).context["form"]
    assert form["revealed"].initial == ["result"]


def test_hidden_fields_are_absent_from_the_share_page_and_the_sd_jwt(
    holder, visitor, diploma_a, candidate_a
):
    link, token, _ = create(holder, revealed=["result"])
    html = visitor.get(services.share_path(token)).content.decode()
    assert candidate_a.last_name_latin in html and "15.37" in html
    for secret in (
        candidate_a.cnie_number,
        "17.75",
        "Mathématiques",
        "16.10",
        "14/03/2008",
        "2008-03-14",
        "Birth place",
    ):
        assert secret not in html, secret
    sd_jwt = visitor.get(reverse("sharing:shared_sd_jwt", args=[token]))
    assert sd_jwt.status_code == 200
    names = set(disclosure.disclosed_names(sd_jwt.content.decode()))
    assert {"general_average", "mention", "family_name", "given_name_ar"} <= names
    assert not names & {
        "national_id_number",
        "birthdate",
        "place_of_birth",
        "place_of_birth_ar",
        "grades",
        "national_average",
    }
    assert "17.75" not in str(disclosure.parse_sd_jwt(sd_jwt.content.decode())[2])


def test_a_link_may_reveal_everything_the_holder_chooses(holder, visitor, diploma_a, candidate_a):
    _, token, _ = create(holder, revealed=["result", "grades", "birth", "cnie"])
    html = visitor.get(services.share_path(token)).content.decode()
    assert candidate_a.cnie_number in html and "17.75" in html and "Rabat" in html


def test_a_link_stops_working_when_it_expires(holder, visitor, diploma_a, clock):
    link, token, _ = create(holder, expires_in="1")
    assert visitor.get(services.share_path(token)).status_code == 200
    clock.advance(hours=23, minutes=59)
    assert visitor.get(services.share_path(token)).status_code == 200
    clock.advance(minutes=2)
    response = visitor.get(services.share_path(token))
    assert response.status_code == 410
    html = response.content.decode()
    assert diploma_a.number not in html and diploma_a.candidate.last_name_latin not in html
    assert visitor.get(reverse("sharing:shared_sd_jwt", args=[token])).status_code == 410
    assert link.views.filter(kind=ShareView.Kind.REFUSED).count() == 2


def test_a_revoked_link_is_refused_at_once_and_reveals_nothing(holder, visitor, diploma_a):
    link, token, _ = create(holder)
    response = holder.post(reverse("sharing:revoke_link", args=[link.pk]), follow=True)
    assert "The link is revoked" in response.content.decode()
    link.refresh_from_db()
    assert link.revoked_at is not None
    refused = visitor.get(services.share_path(token))
    assert refused.status_code == 410
    assert diploma_a.number not in refused.content.decode()
    assert (
        AuditEntry.objects.filter(
            action="share_link_revoked", candidate=diploma_a.candidate
        ).count()
        == 1
    )
    # Revoking twice changes nothing and audits nothing more.
    holder.post(reverse("sharing:revoke_link", args=[link.pk]))
    assert AuditEntry.objects.filter(action="share_link_revoked").count() == 1


def test_every_view_is_logged_with_a_coarse_network_and_only_the_holder_sees_the_log(
    holder, diploma_a, candidate_b, client_for, clerk, settings
):
    link, token, _ = create(holder)
    Client(REMOTE_ADDR="203.0.113.57").get(services.share_path(token))
    Client(REMOTE_ADDR="2001:db8:1234:5678::9").get(reverse("sharing:shared_sd_jwt", args=[token]))
    settings.TRUSTED_PROXY_COUNT = 1
    Client(
        REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.23", HTTP_CF_IPCOUNTRY="FR"
    ).get(services.share_path(token))

    views = list(link.views.order_by("pk").values_list("kind", "network", "country"))
    assert views == [
        ("page", "203.0.113.0/24", ""),
        ("sd_jwt", "2001:db8:1234::/48", ""),
        ("page", "198.51.100.0/24", "FR"),
    ]
    page = holder.get(reverse("sharing:link", args=[link.pk])).content.decode()
    assert "203.0.113.0/24" in page and "2001:db8:1234::/48" in page and "FR" in page
    assert "203.0.113.57" not in page

    assert (
        client_for(candidate_b.user).get(reverse("sharing:link", args=[link.pk])).status_code == 404
    )
    assert client_for(clerk).get(reverse("sharing:link", args=[link.pk])).status_code == 403
    assert Client().get(reverse("sharing:link", args=[link.pk])).status_code == 302


def test_another_candidate_can_neither_see_nor_revoke_the_link(
    holder, diploma_a, diploma_b, candidate_b, client_for
):
    link, token, _ = create(holder)
    other = client_for(candidate_b.user)
    assert other.post(reverse("sharing:revoke_link", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None
    assert str(link.pk) not in re.findall(
        r"/diploma/links/(\d+)/", other.get(reverse("sharing:mine")).content.decode()
    )


def test_the_forms_need_the_csrf_token(candidate_a, diploma_a):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(candidate_a.user)
    data = {"revealed": ["result"], "expires_in": "30"}
    assert strict.post(reverse("sharing:create_link"), data).status_code == 403
    assert not ShareLink.objects.exists()
    link, _ = services.create_link(candidate_a.user, diploma_a)
    assert strict.post(reverse("sharing:revoke_link", args=[link.pk])).status_code == 403
    link.refresh_from_db()
    assert link.revoked_at is None


def test_a_revoked_diploma_cannot_be_shared(holder, diploma_a):
    diploma_a.status = "revoked"
    diploma_a.save()
    response = holder.post(reverse("sharing:create_link"), {"revealed": [], "expires_in": "30"})
    assert response.status_code == 404
    assert not ShareLink.objects.exists()


def test_unknown_tokens_get_a_generic_404_then_the_address_is_locked_out(
    holder, diploma_a, settings
):
    settings.SHARE_MISSES_PER_ADDRESS = 5
    _, token, _ = create(holder)
    guesser = Client(REMOTE_ADDR="192.0.2.10")
    bodies = set()
    for _ in range(5):
        response = guesser.get(services.share_path("A" * 43))
        assert response.status_code == 404
        # The same page each time (but for the masked CSRF token of the language form).
        bodies.add(re.sub(rb'value="[A-Za-z0-9]{64}"', b"", response.content))
    assert len(bodies) == 1
    # Locked out: even a real token is refused now, so a hit cannot be told from a miss.
    locked = guesser.get(services.share_path(token))
    assert locked.status_code == 429 and "Retry-After" in locked
    assert guesser.get(services.share_path("B" * 43)).status_code == 429
    # Other addresses are unaffected.
    assert Client(REMOTE_ADDR="192.0.2.99").get(services.share_path(token)).status_code == 200


def test_the_share_page_is_never_cached_or_indexed(holder, visitor, diploma_a):
    _, token, _ = create(holder)
    response = visitor.get(services.share_path(token))
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]


def test_a_replaced_diploma_says_so_with_a_pointer_to_the_current_one(
    holder, visitor, diploma_a, candidate_a
):
    from .factories import make_diploma

    _, token, _ = create(holder)
    diploma_a.status = "replaced"
    diploma_a.save()
    make_diploma(candidate_a, number="BAC-2026-NEW001", replaces=diploma_a)
    html = visitor.get(services.share_path(token)).content.decode()
    assert "Replaced diploma" in html and "BAC-2026-NEW001" in html


def test_the_share_page_and_the_holder_page_make_few_queries(
    holder, visitor, diploma_a, candidate_a, django_assert_max_num_queries
):
    for _ in range(3):
        _, token, _ = create(holder)
    for _ in range(3):
        visitor.get(services.share_path(token))
    with django_assert_max_num_queries(2):  # the link with its diploma; the view
        assert visitor.get(services.share_path(token)).status_code == 200
    with django_assert_max_num_queries(5):  # session, user, file, diploma, links
        assert holder.get(reverse("sharing:mine")).status_code == 200

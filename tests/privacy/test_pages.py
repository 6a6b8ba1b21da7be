"""The candidate's privacy page: who viewed their documents, the correction link, consent
choices changed where the law lets them (audited)."""

from django.urls import reverse

from audit.models import AuditEntry
from privacy.models import Consent
from privacy.services import has_consented


def test_the_page_shows_who_viewed_the_identity_documents(seeded, candidate_a, client_for):
    response = client_for(candidate_a.user).get(reverse("privacy:mine"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="document-views"' in page and "clerk" in page
    assert reverse("verification:mine") in page and reverse("privacy:export") in page
    assert "<script" not in page and "style=" not in page


def test_another_candidate_sees_no_view_of_a_documents(seeded, candidate_b, client_for):
    page = client_for(candidate_b.user).get(reverse("privacy:mine")).content.decode()
    assert 'id="document-views"' not in page


def test_the_name_is_left_out_of_published_lists_until_the_candidate_consents(
    candidate_a, client_for
):
    assert has_consented(candidate_a, "published_lists") is False
    client = client_for(candidate_a.user)
    response = client.post(
        reverse("privacy:consent"), {"topic": "published_lists", "granted": "yes"}
    )
    assert response.status_code == 302
    assert has_consented(candidate_a, "published_lists") is True
    entry = AuditEntry.objects.get(candidate=candidate_a, action="consent.update")
    assert entry.before == {"topic": "published_lists", "granted": False}
    assert entry.after == {"topic": "published_lists", "granted": True}
    # Withdrawing is as easy as giving.
    client.post(reverse("privacy:consent"), {"topic": "published_lists", "granted": "no"})
    assert has_consented(candidate_a, "published_lists") is False
    assert AuditEntry.objects.filter(candidate=candidate_a, action="consent.update").count() == 2


def test_saving_the_same_choice_again_records_nothing(candidate_a, client_for):
    client = client_for(candidate_a.user)
    for _ in range(2):
        client.post(reverse("privacy:consent"), {"topic": "published_lists", "granted": "yes"})
    assert AuditEntry.objects.filter(action="consent.update").count() == 1


def test_a_choice_the_law_makes_cannot_be_changed(candidate_a, client_for):
    client = client_for(candidate_a.user)
    client.post(reverse("privacy:consent"), {"topic": "identity_check", "granted": "no"})
    assert has_consented(candidate_a, "identity_check") is True
    assert not Consent.objects.exists()
    client.post(reverse("privacy:consent"), {"topic": "nonsense", "granted": "no"})
    client.post(reverse("privacy:consent"), {"topic": "published_lists", "granted": "maybe"})
    assert not Consent.objects.exists()
    assert not AuditEntry.objects.filter(action="consent.update").exists()


def test_the_choices_are_shown_with_their_state(candidate_a, client_for):
    client = client_for(candidate_a.user)
    client.post(reverse("privacy:consent"), {"topic": "published_lists", "granted": "yes"})
    page = client.get(reverse("privacy:mine")).content.decode()
    assert 'value="yes" checked' in page
    assert "cannot be changed" in page

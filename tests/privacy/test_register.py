"""The register itself: every kind is fully described, purgeable kinds have a purger, and the
public page shows it in the three languages."""

import pytest
from django.urls import reverse

from privacy import register


def test_every_kind_says_what_why_on_what_basis_who_and_how_long():
    assert len(register.kinds()) >= 10
    for kind in register.kinds():
        for attribute in ("label", "fields", "purpose", "legal_basis", "recipients", "retention"):
            assert str(getattr(kind, attribute)).strip(), (kind.key, attribute)


def test_a_kind_with_a_retention_period_has_a_purger_and_the_reverse():
    for kind in register.kinds():
        assert (kind.retention_days is None) == (kind.purger is None), kind.key


def test_the_data_the_issue_names_is_purged():
    purged = {k.key for k in register.kinds() if k.purger}
    assert {
        "candidates.cnie_copy",
        "identity.one_time_code",
        "identity.sign_in_event",
        "verification.correction_request",
        "notifications.message",
        "convocations.convocation",
        "sharing.view_log",
        "scholarships.document",
        "candidates.import_report",
    } <= purged


# Models linked to a candidate (foreign key or one-to-one field to candidates.Candidate) that
# hold nothing personal beyond the link, each with the reason; they need no kind. Empty: every
# such model holds data about the candidate and is named by a kind.
HOLD_NOTHING_PERSONAL: dict[str, str] = {}


def linked_to_a_candidate() -> set[str]:
    """The label of every installed model with a foreign key or one-to-one field (a subclass of
    ForeignKey) straight to candidates.Candidate."""
    from django.apps import apps
    from django.db import models

    from candidates.models import Candidate

    return {
        model._meta.label
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey) and field.related_model is Candidate
    }


def not_in_the_register() -> set[str]:
    named = {name for kind in register.kinds() for name in kind.models}
    return linked_to_a_candidate() - named - set(HOLD_NOTHING_PERSONAL)


def test_every_model_linked_to_a_candidate_is_named_by_a_kind():
    # Sanity: the walk finds the links (a broken walk would find nothing and pass).
    assert {"diplomas.Diploma", "sharing.ShareLink", "verification.FileCheck"} <= (
        linked_to_a_candidate()
    )
    missing = sorted(not_in_the_register())
    assert not missing, (
        f"{missing} hold a candidate's data but no kind of the register names them: declare "
        "a kind with models=... (privacy/register.py), or list them in HOLD_NOTHING_PERSONAL "
        "with the reason"
    )


def test_a_model_left_out_of_the_register_is_caught(monkeypatch):
    monkeypatch.delitem(register._KINDS, "diplomas.diploma")
    assert not_in_the_register() == {"diplomas.Diploma", "diplomas.Refusal"}


def test_the_models_a_kind_names_exist_and_the_allow_list_is_not_stale():
    from django.apps import apps

    for kind in register.kinds():
        for name in kind.models:
            assert apps.get_model(name), (kind.key, name)
    named = {name for kind in register.kinds() for name in kind.models}
    for name in HOLD_NOTHING_PERSONAL:
        assert name in linked_to_a_candidate() and name not in named, name


@pytest.mark.parametrize(
    "wrong",
    [{"key": "nodot"}, {"retention_days": -1}, {"models": ("Diploma",)}],
    ids=["no app prefix", "negative retention", "model without its app"],
)
def test_a_kind_needs_an_app_prefix_a_sane_retention_and_qualified_models(wrong):
    declaration = {
        "key": "x.y",
        "label": "x",
        "fields": "x",
        "purpose": "x",
        "legal_basis": "x",
        "recipients": "x",
        "retention": "x",
    }
    with pytest.raises(ValueError):
        register.data_kind(**{**declaration, **wrong})


def test_the_retention_period_can_be_overridden_in_settings(settings):
    kind = register.kind("identity.sign_in_event")
    assert kind.effective_retention_days() == 180
    settings.PRIVACY_RETENTION_DAYS = {"identity.sign_in_event": 30}
    assert kind.effective_retention_days() == 30


@pytest.mark.parametrize(
    ("language", "heading", "basis"),
    [
        ("en", "Your personal data", "Public task"),
        ("fr", "Vos données personnelles", "Mission de service public"),
        ("ar", "معطياتكم الشخصية", "مهمة"),
    ],
)
def test_the_public_privacy_page_lists_the_register_in_each_language(
    client, db, language, heading, basis
):
    response = client.get(reverse("privacy:notice"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    page = response.content.decode()
    assert heading in page and basis in page
    for kind in register.kinds():
        assert f'id="kind-{kind.key.replace(".", "")}"' in page
    assert "<script" not in page and "style=" not in page


def test_every_page_links_to_the_privacy_notice(client, db):
    page = client.get(reverse("identity:sign_in")).content.decode()
    assert f'href="{reverse("privacy:notice")}"' in page

"""Scholarship personas and helpers: an open programme, commission members of the nation and
of an academy, and a complete application built through the services (as the form does)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.utils import timezone
from PIL import Image

from identity.models import Role
from scholarships import services
from scholarships.models import CommissionMember
from tests.factories import UserFactory


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 220, 210)).save(buffer, "PNG")
    return buffer.getvalue()


PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def programme(session):
    values = services.default_values(session)
    values["opens_at"] = timezone.now() - datetime.timedelta(days=1)
    values["closes_at"] = timezone.now() + datetime.timedelta(days=20)
    values["bac_date"] = datetime.date(2026, 6, 1)
    return services.create_programme(session, None, values)


@pytest.fixture
def national_member(ministry_staff):
    CommissionMember.objects.create(user=ministry_staff)
    return ministry_staff


@pytest.fixture
def academy_member(academy_staff, academy):
    CommissionMember.objects.create(user=academy_staff, academy=academy)
    return academy_staff


@pytest.fixture
def member_of_other_academy(academy_staff_of_other_academy, other_academy):
    CommissionMember.objects.create(user=academy_staff_of_other_academy, academy=other_academy)
    return academy_staff_of_other_academy


@pytest.fixture
def non_member(db):
    return UserFactory(username="ministry-not-member", role=Role.MINISTRY)


def fill(application, actor, *, rsu="RSU0001", index="7.5", income="24000", members=3):
    """Every step of the form, as a candidate would fill it."""
    services.save_step(application, actor, "identity", {"address": "12 rue Atlas, Rabat"})
    for age in range(members):
        services.add_member(
            application, actor, {"relation": "sibling", "age": 10 + age, "situation": "pupil"}
        )
    services.save_step(application, actor, "household", {})
    services.save_step(
        application,
        actor,
        "incomes",
        {"household_income": Decimal(income), "other_income": Decimal("0"), "employed": False},
    )
    services.save_step(
        application,
        actor,
        "registers",
        {"rnp_number": f"RNP{rsu}", "rsu_number": rsu, "rsu_index": Decimal(index)},
    )
    services.save_step(
        application,
        actor,
        "studies",
        {
            "institution": "Université Mohammed V",
            "institution_city": "Rabat",
            "field_of_study": "Physique",
            "public_institution": True,
        },
    )
    for kind in ("income_certificate", "rsu_certificate"):
        services.upload_document(application, actor, kind, io.BytesIO(png_bytes()))
    services.save_step(application, actor, "documents", {})
    application.refresh_from_db()
    return application


@pytest.fixture
def submitted(programme, candidate_a):
    application = services.start_application(candidate_a, candidate_a.user)
    fill(application, candidate_a.user)
    return services.submit(application, candidate_a.user)


@pytest.fixture
def submitted_b(programme, candidate_b):
    application = services.start_application(candidate_b, candidate_b.user)
    fill(application, candidate_b.user, rsu="RSU0002", index="6.1", income="12000", members=5)
    return services.submit(application, candidate_b.user)

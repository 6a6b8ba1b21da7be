"""The demo command opens the current session's programme, and running it again changes nothing."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from scholarships import services
from scholarships.models import CommissionMember, Programme
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_creates_the_programme_with_its_window_open_and_is_idempotent(session, academy):
    UserFactory(username="ministry", role="ministry")
    UserFactory(username="aref", role="academy", academy=academy)
    call_command("demo_scholarships", stdout=StringIO())
    call_command("demo_scholarships", stdout=StringIO())
    programme = Programme.objects.get(session=session)
    assert programme.versions.count() == 1
    assert services.window_of(programme.current_version()).is_open
    assert CommissionMember.objects.filter(academy__isnull=True).count() == 1
    assert CommissionMember.objects.filter(academy=academy).count() == 1


def test_it_opens_a_closed_window_with_a_new_version(session):
    values = services.default_values(session)
    values["opens_at"] = timezone.now() - datetime.timedelta(days=20)
    values["closes_at"] = timezone.now() - datetime.timedelta(days=10)
    programme = services.create_programme(session, None, values)
    call_command("demo_scholarships", stdout=StringIO())
    assert programme.versions.count() == 2
    assert services.window_of(programme.current_version()).is_open

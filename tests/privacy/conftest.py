import pytest
from django.utils import timezone

from .seed import seed_personal_data


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def seeded(candidate_a, candidate_b, clerk):
    return seed_personal_data(candidate_a, clerk)


@pytest.fixture
def frozen(monkeypatch):
    """Freeze django.utils.timezone.now at a moment the test moves."""

    class Frozen:
        moment = timezone.now()

        def at(self, moment):
            self.moment = moment
            return moment

    clock = Frozen()
    monkeypatch.setattr(timezone, "now", lambda: clock.moment)
    return clock

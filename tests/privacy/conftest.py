import pytest

from .seed import seed_personal_data


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def seeded(candidate_a, candidate_b, clerk):
    return seed_personal_data(candidate_a, clerk)

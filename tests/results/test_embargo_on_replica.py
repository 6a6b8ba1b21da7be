"""The embargo's tests again, answered from the host's replica (results.replica)."""

from .publication_fixtures import *  # noqa: F403
from .replica_mode import replica_mode  # noqa: F401
from .test_embargo import *  # noqa: F403

"""The publication's tests again (withdrawals, replacements, corrections), answered from the
host's replica (results.replica)."""

from .publication_fixtures import *  # noqa: F403
from .replica_mode import replica_mode  # noqa: F401
from .test_publication import *  # noqa: F403

"""The embargo's tests again, answered from the host's replica (results.replica)."""

from .publication_fixtures import *  # noqa: F403
from .replica_mode import replica_mode  # noqa: F401
from .test_embargo import *  # noqa: F403

# Which URLs the fast path serves does not depend on where the lookup reads: run once.
del test_the_wsgi_fast_path_is_on_the_lookup_url_only  # noqa: F821

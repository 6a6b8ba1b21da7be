"""The lookup's tests again, answered from the host's replica (results.replica)."""

from .publication_fixtures import *  # noqa: F403
from .replica_mode import replica_mode  # noqa: F401
from .test_lookup import *  # noqa: F403
from .test_lookup import published  # noqa: F401

# These read the shared cache's counters (identity.ratelimit) or its Redis connection, which the
# replica does not use, or count queries with a pointer re-read on every lookup; test_replica.py
# checks the replica's own counters and its own "no query per lookup".
del test_the_limits_use_the_counters_of_identity_ratelimit  # noqa: F821
del test_a_lookup_makes_no_database_query  # noqa: F821
del test_a_cold_cache_still_answers_from_the_snapshot_and_warm_results_refills_it  # noqa: F821
del test_on_redis_a_lookup_survives_a_flushed_script_and_a_dropped_connection  # noqa: F821
del test_on_redis_the_lookup_also_works_through_redis_py_s_parser  # noqa: F821

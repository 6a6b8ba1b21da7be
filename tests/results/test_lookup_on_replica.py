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

# These never read a replica (a malformed query is refused before any lookup; the signed-in
# page and staff access are the database's; the OpenAPI document is static): run once.
del test_malformed_details_are_refused_and_nothing_is_counted  # noqa: F821
del test_the_public_page_explains_a_malformed_code  # noqa: F821
del test_the_signed_in_candidate_sees_their_own_result_only  # noqa: F821
del test_staff_cannot_use_the_candidate_result_page  # noqa: F821
del test_the_api_is_described_by_openapi  # noqa: F821

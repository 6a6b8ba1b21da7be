"""The publication's tests again (withdrawals, replacements, corrections), answered from the
host's replica (results.replica)."""

from .publication_fixtures import *  # noqa: F403
from .replica_mode import replica_mode  # noqa: F401
from .test_publication import *  # noqa: F403

# These never read a replica (the audit, refusals before anything is written, the notices,
# the rows the server builds): run once.
del test_a_publication_is_audited_with_its_version_moment_and_fingerprint  # noqa: F821
del test_a_withdrawal_needs_a_reason  # noqa: F821
del test_a_correction_needs_a_public_result  # noqa: F821
del test_only_a_finished_computation_can_be_published  # noqa: F821
del test_a_computation_that_kept_no_marks_is_not_published  # noqa: F821
del test_a_computation_is_not_published_over_grades_corrected_after_it  # noqa: F821
del test_candidates_are_told_once_when_the_moment_has_come  # noqa: F821
del test_the_notification_hook_tells_every_candidate_and_a_replacement_only_those_changed  # noqa: F821
del test_the_rows_postgresql_builds_are_byte_for_byte_those_of_the_engine  # noqa: F821

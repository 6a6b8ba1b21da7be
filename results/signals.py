"""What other services hear of the results.

`publication_made_public` is sent once per publication, when its moment has come and its
notifications are queued (`notify_due_publications`): diplomas are issued and scholarship
applications re-checked from it. `result_republished` is sent after the commit of a one-candidate
correction (`republish_candidate`, e.g. after an accepted complaint): the candidate's diploma is
replaced and their other services follow the new decision.
"""

from django.dispatch import Signal

# sender=Publication, publication=Publication
publication_made_public = Signal()
# sender=Publication, candidate=Candidate, publication=Publication, computed_result=ComputedResult,
# reason=str, actor=User | None
result_republished = Signal()

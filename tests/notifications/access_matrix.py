"""Who may follow the delivery of notifications (format: tests/privacy/matrix.py)."""

from tests.privacy.matrix import ACADEMY_AND_MINISTRY, ACADEMY_OBJECT, Entry

ENTRIES = {
    "notifications:overview": Entry(ACADEMY_AND_MINISTRY),
    # A batch that only A (of A's academy) received.
    "notifications:batch": Entry(
        ACADEMY_OBJECT, kwargs={"kind": "notification.kind", "reference": "notification.reference"}
    ),
}

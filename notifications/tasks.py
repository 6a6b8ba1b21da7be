"""Background sending of the notification outbox."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(bind=True, name="notifications.send_notifications", acks_late=True)
def send_notifications(self, notification_ids: list[int]) -> dict[str, int]:
    """Send these outbox rows (the queued ones), at the providers' rate.

    Rows that failed transiently are retried by this task (self.retry) after an exponential
    backoff, until their attempts reach NOTIFICATIONS_MAX_ATTEMPTS. Running it twice on the
    same ids, or retrying it, never sends a row twice: each row is claimed before it is sent.
    """
    outcome = services.send_notification_batch(notification_ids)
    totals = outcome.as_dict()
    # Run in-process (eager mode: the demo and the tests; or called directly), a retry cannot be
    # scheduled for later (Celery's eager mode re-raises it): retry at once instead.
    while outcome.retry_ids and (self.request.is_eager or self.request.called_directly):
        outcome = services.send_notification_batch(outcome.retry_ids)
        totals["sent"] += outcome.sent
        totals["failed"] += outcome.failed
        totals["to_retry"] = len(outcome.retry_ids)
    if outcome.retry_ids:
        # Row attempts bound the retries; max_retries=None lets them, not Celery, decide.
        raise self.retry(args=[outcome.retry_ids], countdown=outcome.retry_in, max_retries=None)
    return totals

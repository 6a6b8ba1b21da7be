from celery import shared_task


@shared_task(name="diplomas.issue_session")
def issue_session_task(run_id: int) -> dict:
    from .services import run_issuance

    run = run_issuance(run_id)
    return {"status": run.status, "issued": run.issued, "refused": run.refused}

from celery import shared_task

from catalog.models import ImportJob
from catalog.services import import_job_run


@shared_task(
    queue="io", autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def import_job_run_task(job_id: int) -> None:
    job = ImportJob.objects.filter(pk=job_id).select_related("label", "created_by").first()
    if job is not None:
        import_job_run(job=job)

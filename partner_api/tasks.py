"""Celery tasks of the partner API, on the "io" queue. Each takes ids and is safe to run twice."""

from celery import shared_task
from django.utils import timezone

# Services import these tasks to queue them, so the tasks import services inside their bodies.
from partner_api.models import DeliveryStatus, UsageReport, WebhookDelivery


@shared_task(bind=True, queue="io", acks_late=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> None:
    """One attempt; on failure the service has set the backoff, and the task comes back then."""
    from partner_api.services import webhook_delivery_attempt

    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in.total_seconds())


@shared_task(queue="io", acks_late=True)
def webhook_deliveries_due_task() -> int:
    """Sweeper for beat (every minute): re-queues due deliveries whose retry message was lost."""
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
    ids = list(due.values_list("pk", flat=True)[:500])
    for delivery_id in ids:
        webhook_deliver_task.delay(delivery_id)
    return len(ids)


@shared_task(queue="io", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def usage_report_process_task(report_id: int) -> None:
    from partner_api.services import usage_report_process

    report = UsageReport.objects.filter(pk=report_id).first()
    if report is None:
        return
    usage_report_process(report=report)


@shared_task(queue="io", acks_late=True)
def idempotency_records_prune_task() -> int:
    """Idempotency keys are honoured for IDEMPOTENCY_KEY_DAYS (docs/api.md); older records go."""
    from partner_api.services import idempotency_records_prune

    return idempotency_records_prune()

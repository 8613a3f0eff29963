"""Periodic jobs of the partner API. To be merged into settings.CELERY_BEAT_SCHEDULE by the settings owner:

from partner_api.beat import PARTNER_API_BEAT_SCHEDULE
CELERY_BEAT_SCHEDULE = {..., **PARTNER_API_BEAT_SCHEDULE}
"""

PARTNER_API_BEAT_SCHEDULE = {
    "partner-api-webhook-deliveries-due": {
        "task": "partner_api.tasks.webhook_deliveries_due_task",
        "schedule": 60.0,
    },
    "partner-api-idempotency-prune": {
        "task": "partner_api.tasks.idempotency_records_prune_task",
        "schedule": 3600.0,
    },
}

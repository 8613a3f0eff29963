"""Periodic tasks for celery beat. Wire into settings as
`CELERY_BEAT_SCHEDULE = {**fingerprinting.beat.BEAT_SCHEDULE, ...}`."""

BEAT_SCHEDULE = {
    "fingerprinting-clip-sweep": {
        "task": "fingerprinting.tasks.clip_sweep_task",
        "schedule": 60.0,  # seconds; re-queues clips stuck past CLIP_PROCESSING_TIMEOUT_SECONDS
        "options": {"queue": "attribution", "expires": 55},
    },
}

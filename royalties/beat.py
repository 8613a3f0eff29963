"""The monthly close on Celery beat. To be merged into settings.CELERY_BEAT_SCHEDULE by the settings owner:

    from royalties.beat import ROYALTIES_BEAT_SCHEDULE
    CELERY_BEAT_SCHEDULE = {**ROYALTIES_BEAT_SCHEDULE}

Day and hour come from ROYALTIES_CLOSE_DAY (default 3: partners report late lines in the first days of a
month) and ROYALTIES_CLOSE_HOUR (default 2, UTC).
"""

from celery.schedules import crontab

from config.env import env_int

ROYALTIES_CLOSE_DAY = env_int("ROYALTIES_CLOSE_DAY", 3, minimum=1)
ROYALTIES_CLOSE_HOUR = env_int("ROYALTIES_CLOSE_HOUR", 2, minimum=0)

ROYALTIES_BEAT_SCHEDULE = {
    "royalties-close-previous-month": {
        "task": "royalties.tasks.periods_close_previous_month_task",
        "schedule": crontab(minute=0, hour=ROYALTIES_CLOSE_HOUR, day_of_month=ROYALTIES_CLOSE_DAY),
    },
    # Daily, so a missed night (beat down) is made up the next; creating a month that exists is free.
    "royalties-usage-partitions-ahead": {
        "task": "royalties.tasks.usage_partitions_ahead_task",
        "schedule": crontab(minute=30, hour=1),
    },
}

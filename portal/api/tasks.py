"""django-q2 entry points of the API: the daily purge of expired Idempotency-Key answers."""

PURGE_SCHEDULE = "api: purge expired idempotency keys"


def purge_idempotency_keys() -> int:
    from .idempotency import purge_expired_keys

    return purge_expired_keys()


def ensure_schedules() -> list[str]:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=PURGE_SCHEDULE,
        defaults={"func": "portal.api.tasks.purge_idempotency_keys", "schedule_type": Schedule.DAILY,
                  "repeats": -1},
    )  # fmt: skip
    return [PURGE_SCHEDULE]

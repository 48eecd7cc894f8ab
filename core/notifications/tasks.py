"""django-q2 entry points (thin wrappers over services)."""

from . import services

RETRY_SCHEDULE = "notifications: retry due messages"


def deliver(notification_id: int) -> str:
    return services.deliver(notification_id)


def retry_due_notifications() -> int:
    return services.retry_due_notifications()


# Tasks queued before the outbox existed carry a payload; the row has everything now.
def deliver_email(notification_id: int, payload: dict | None = None) -> str:
    return services.deliver(notification_id)


def deliver_discord(notification_id: int, payload: dict | None = None) -> str:
    return services.deliver(notification_id)


def ensure_schedules() -> list[str]:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=RETRY_SCHEDULE,
        defaults={"func": "core.notifications.tasks.retry_due_notifications", "schedule_type": Schedule.MINUTES,
                  "minutes": 1, "repeats": -1},
    )  # fmt: skip
    return [RETRY_SCHEDULE]

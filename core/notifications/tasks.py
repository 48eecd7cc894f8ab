"""django-q2 entry points (thin wrappers; a raised error makes django-q2 retry the task)."""

from . import services


def deliver_email(notification_id: int, payload: dict) -> str:
    return services.deliver_email(notification_id, payload)


def deliver_discord(notification_id: int, payload: dict) -> str:
    return services.deliver_discord(notification_id, payload)

"""Notification errors with a message staff can act on."""


class NotificationError(Exception):
    pass

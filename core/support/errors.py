"""Support errors with a message a person can act on."""


class SupportError(Exception):
    """The help desk refused the request (bad input, unknown department...)."""


class SupportUnavailable(SupportError):
    """The help desk is down, slow or not configured: pages show this and keep working."""


class TicketNotFound(SupportError):
    """No such ticket for this customer (the portal answers 404)."""

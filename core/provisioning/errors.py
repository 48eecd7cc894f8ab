"""Provisioning's domain errors. Messages are written for the person who will read them
(a customer at checkout, or staff in the admin) and say what to do next."""


class ProvisioningError(Exception):
    """Base for every provisioning error callers may want to show or map to a 4xx."""


class CapacityError(ProvisioningError):
    """The product cannot be fulfilled right now (out of stock, platform full, or not verifiable)."""


class InvalidTransition(ProvisioningError):
    """A status change the lifecycle does not allow (e.g. suspending a terminated service)."""

    def __init__(self, service, target: str, message: str = ""):
        self.service = service
        self.current = service.status
        self.target = target
        super().__init__(
            message or f"Service {service.pk} is {service.get_status_display().lower()}; it cannot become {target}."
        )


class ActionInProgress(ProvisioningError):
    """Another platform action for this service has not been confirmed yet."""


class NoPlatformConnection(ProvisioningError):
    """No active PlatformConnection can take this product."""


class PlatformActionFailed(ProvisioningError):
    """A synchronous platform call (power, credentials, usage, panel link) failed."""


class ReauthenticationRequired(ProvisioningError):
    """Credentials are shown only after the customer re-enters their password."""


class RefundNotPossible(ProvisioningError):
    """The failed service has no paid invoice to refund or credit, or was already handled."""


class ReinstallNotAllowed(ProvisioningError):
    """A reinstall the service's state, platform or product does not allow. `field` names the input
    at fault (the template) when it is the customer's choice."""

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        super().__init__(message)

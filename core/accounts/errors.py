"""Account errors, with messages a customer or staff member can act on."""


class AccountError(Exception):
    """Base for account errors; `field` names the form field at fault, when there is one."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        if field is not None:
            self.field = field


class EmailTakenError(AccountError):
    field = "email"


class InvalidProfileError(AccountError):
    pass


class BillingCurrencyLockedError(AccountError):
    field = "currency"


class ApiTokenError(AccountError):
    pass


class EmailVerificationError(AccountError):
    pass


class ContactError(AccountError):
    pass

"""Bandwidth metering errors, with messages a person can act on."""


class UsageError(Exception):
    pass


class ChargeNotEditable(UsageError):
    pass

"""Redaction of request/response bodies before they are stored on a ProvisioningJob.

core must not import integrations, so this mirrors integrations.http.redact: any key that
looks like a secret is replaced, at any depth.
"""

from collections.abc import Mapping
from typing import Any

SECRET_KEYS = frozenset(
    {"password", "pass", "passwd", "new_password", "newpassword", "root_password", "decryptedpassword",
     "secret", "token", "api_key", "apikey", "key", "authorization", "client_secret", "access_token",
     "refresh_token", "sshkey", "ssh_key", "private_key", "credentials", "otp", "sso_url", "login_url"}
)  # fmt: skip
REDACTED = "[REDACTED]"


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with secret-looking keys replaced."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if str(k).lower().replace("-", "_") in SECRET_KEYS else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)

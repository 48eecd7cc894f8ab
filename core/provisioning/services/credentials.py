"""Generating service passwords and carrying credentials to the welcome email without
putting plaintext in the task queue."""

import json
import secrets
import string

from core.encryption import decrypt_str, encrypt_str

# No quotes, backslashes or spaces: panels and shells choke on them.
_SYMBOLS = "-_.@#%+="
_ALPHABET = string.ascii_letters + string.digits + _SYMBOLS


def generate_password(length: int = 24) -> str:
    """A random password from `secrets` with at least one lower, upper, digit and symbol."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in _SYMBOLS for c in candidate)
        ):
            return candidate


def seal(credentials: dict) -> str:
    """Encrypt credentials for a queued email; only the worker rendering the template opens them."""
    return encrypt_str(json.dumps(credentials or {}, sort_keys=True))


def unseal(token: str) -> dict:
    return json.loads(decrypt_str(token)) if token else {}

"""Encrypted model fields: Fernet with rotation (MultiFernet).

The first key in ``settings.FIELD_ENCRYPTION_KEYS`` encrypts; every key decrypts, so a
new key is rotated in by putting it first and running ``manage.py rotate_encryption_keys``.
The database only ever holds Fernet tokens, never the plaintext.
"""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


def _as_fernet_key(raw: str) -> bytes:
    """Accept a real Fernet key, or derive one from any other string (dev keys)."""
    data = raw.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(data)) == 32:
            return data
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest())


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: encrypted fields need at least one key.")
    return MultiFernet([Fernet(_as_fernet_key(k)) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt_str(stored: str) -> str:
    token = stored[len(PREFIX) :] if stored.startswith(PREFIX) else stored
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "An encrypted value cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS."
        ) from exc


def rotate_str(stored: str) -> str:
    token = stored[len(PREFIX) :] if stored.startswith(PREFIX) else stored
    return PREFIX + fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text value stored as a Fernet token. Empty strings stay empty (nothing to hide)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))

    def value_to_string(self, obj):  # serialisers/dumpdata never see the plaintext
        return "[encrypted]"


class EncryptedJSONField(models.TextField):
    """A JSON value (dict/list) stored as one Fernet token."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {} if value == "" else None
        return json.loads(decrypt_str(value))

    def to_python(self, value):
        if isinstance(value, str) and value and not value.startswith(PREFIX):
            return json.loads(value)
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_str(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj):
        return "[encrypted]"

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
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"
# The key core/settings.py falls back to outside production; it is public, so never valid in production.
DEV_FERNET_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3QtZm9yLXByb2Q="


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


def is_under_primary_key(stored: str) -> bool:
    """True when the value is already encrypted with the first (current) key."""
    token = stored[len(PREFIX) :] if stored.startswith(PREFIX) else stored
    primary = Fernet(_as_fernet_key(settings.FIELD_ENCRYPTION_KEYS[0]))
    try:
        primary.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def encrypted_fields() -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, field) pair that stores Fernet tokens, across installed apps."""
    from django.apps import apps

    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField | EncryptedJSONField)
    ]


def rotate_encrypted_values(*, dry_run: bool = False, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored value that is not under the first key of FIELD_ENCRYPTION_KEYS.

    Invariant: afterwards every non-empty encrypted column decrypts with the first key alone,
    so older keys can be removed from the environment. Each row is rewritten with a
    compare-and-swap on the old token, so a concurrent save of that row is never overwritten
    with stale data (that row keeps its newer value, already under the first key). Running it
    again rewrites nothing. Returns {"app.Model.field": rows rewritten (or to rewrite)}.
    """
    from django.db import connections, router, transaction

    counts: dict[str, int] = {}
    for model, field in encrypted_fields():
        label = f"{model._meta.label}.{field.name}"
        db = router.db_for_write(model)
        connection = connections[db]
        qn = connection.ops.quote_name
        table, column, pk = qn(model._meta.db_table), qn(field.column), qn(model._meta.pk.column)
        counts[label] = 0
        last_pk = None
        while True:
            with connection.cursor() as cursor:
                where = f"WHERE {column} IS NOT NULL AND {column} <> ''"
                params: list = []
                if last_pk is not None:
                    where += f" AND {pk} > %s"
                    params.append(last_pk)
                cursor.execute(
                    f"SELECT {pk}, {column} FROM {table} {where} ORDER BY {pk} LIMIT %s",  # noqa: S608 (quoted names)
                    [*params, batch_size],
                )
                rows = cursor.fetchall()
            if not rows:
                break
            last_pk = rows[-1][0]
            stale = [(row_pk, value) for row_pk, value in rows if not is_under_primary_key(value)]
            counts[label] += len(stale)
            if dry_run or not stale:
                continue
            with transaction.atomic(using=db), connection.cursor() as cursor:
                for row_pk, value in stale:
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s",  # noqa: S608
                        [rotate_str(value), row_pk, value],
                    )
    return counts


def _is_real_fernet_key(raw: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(raw.strip().encode())) == 32
    except (ValueError, TypeError):
        return False


@checks.register(checks.Tags.security, deploy=True)
def check_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Production must encrypt with real, non-development Fernet keys."""
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    if not keys:
        return [checks.Error("FIELD_ENCRYPTION_KEYS is empty.", id="encryption.E001")]
    errors = []
    for position, key in enumerate(keys, start=1):
        if not _is_real_fernet_key(key):
            errors.append(
                checks.Error(
                    f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe base64 bytes).",
                    hint='Generate one: python -c "from cryptography.fernet import Fernet; '
                    'print(Fernet.generate_key().decode())"',
                    id="encryption.E002",
                )
            )
    if DEV_FERNET_KEY in keys:
        errors.append(checks.Error("FIELD_ENCRYPTION_KEYS contains the public development key.", id="encryption.E003"))
    return errors

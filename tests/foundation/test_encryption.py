"""Secrets are stored as Fernet tokens and survive key rotation."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from core.encryption import DEV_FERNET_KEY, check_encryption_keys, is_under_primary_key, rotate_encrypted_values
from core.provisioning.models import PlatformConnection, Service
from tests.factories import PlatformConnectionFactory, ServiceFactory

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _raw(model, pk, column):
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_text_secret_is_stored_as_fernet_token_not_plaintext():
    conn = PlatformConnectionFactory(name="vf-1", platform="virtfusion", api_key="vf-api-key-123456")
    raw = _raw(PlatformConnection, conn.pk, "api_key")
    assert raw.startswith("fernet:")
    assert "vf-api-key-123456" not in raw
    assert PlatformConnection.objects.get(pk=conn.pk).api_key == "vf-api-key-123456"


def test_json_credentials_are_stored_as_one_fernet_token():
    service = ServiceFactory(credentials={"root_password": "s3cr3t-root", "username": "root"})
    raw = _raw(Service, service.pk, "credentials")
    assert raw.startswith("fernet:")
    assert "s3cr3t-root" not in raw and "root_password" not in raw
    assert Service.objects.get(pk=service.pk).credentials == {"root_password": "s3cr3t-root", "username": "root"}


def test_empty_secret_stays_empty():
    conn = PlatformConnectionFactory(name="empty", api_key="")
    assert _raw(PlatformConnection, conn.pk, "api_key") == ""


def test_old_values_decrypt_after_a_new_key_is_put_first(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    conn = PlatformConnectionFactory(name="ptero", api_key="ptla_oldsecret")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert PlatformConnection.objects.get(pk=conn.pk).api_key == "ptla_oldsecret"


def test_values_under_a_removed_key_fail_loudly(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    conn = PlatformConnectionFactory(name="ptero", api_key="ptla_oldsecret")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(ImproperlyConfigured):
        PlatformConnection.objects.get(pk=conn.pk)


def test_rotate_encryption_keys_rewrites_old_values_under_the_new_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    conn = PlatformConnectionFactory(name="enhance", api_key="enhance-token", api_secret="second")
    service = ServiceFactory(connection=conn, credentials={"password": "p@ss"})
    before = _raw(PlatformConnection, conn.pk, "api_key")

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "1 value(s) re-encrypted" not in out.getvalue()  # three values (key, secret, credentials)
    assert "3 value(s) re-encrypted" in out.getvalue()

    after = _raw(PlatformConnection, conn.pk, "api_key")
    assert after != before and after.startswith("fernet:")
    assert is_under_primary_key(after)
    # The old key can now be dropped: everything reads with the new key alone.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    reloaded = PlatformConnection.objects.get(pk=conn.pk)
    assert (reloaded.api_key, reloaded.api_secret) == ("enhance-token", "second")
    assert Service.objects.get(pk=service.pk).credentials == {"password": "p@ss"}


def test_rotation_is_idempotent_and_dry_run_writes_nothing(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    conn = PlatformConnectionFactory(name="synergy", api_key="synergy-key")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    raw = _raw(PlatformConnection, conn.pk, "api_key")

    dry = rotate_encrypted_values(dry_run=True)
    assert dry["provisioning.PlatformConnection.api_key"] == 1
    assert _raw(PlatformConnection, conn.pk, "api_key") == raw

    first = rotate_encrypted_values()
    second = rotate_encrypted_values()
    assert first["provisioning.PlatformConnection.api_key"] == 1
    assert sum(second.values()) == 0


def test_dumpdata_never_shows_the_plaintext():
    conn = PlatformConnectionFactory(name="dump", api_key="plain-visible-key")
    from django.core import serializers

    data = json.loads(serializers.serialize("json", [conn]))
    assert data[0]["fields"]["api_key"] == "[encrypted]"


def test_deploy_check_rejects_development_and_malformed_keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [DEV_FERNET_KEY, "not-a-key"]
    ids = {message.id for message in check_encryption_keys()}
    assert ids == {"encryption.E002", "encryption.E003"}
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert check_encryption_keys() == []

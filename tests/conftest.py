import os

import django_otp
import pytest
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import CustomerFactory, StaffUserFactory

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def pytest_collection_modifyitems(config, items):
    """`mariadb` tests need real row locks: skipped on SQLite with the reason; CI runs them on MariaDB."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    on_mysql = url.startswith("mysql")
    skip_mysql = pytest.mark.skip(reason="needs MariaDB/MySQL: set TEST_DATABASE_URL=mysql://… (CI does)")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL (CI does)")
    for item in items:
        if "mariadb" in item.keywords and not on_mysql:
            item.add_marker(skip_mysql)
        if "redis" in item.keywords and not os.environ.get("REDIS_URL"):
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (cached gateway tokens, throttles, locks must not leak)."""
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):  # django-redis: only this worker's prefixed keys
        cache.delete_pattern("*")
    else:
        cache.clear()
    yield


@pytest.fixture
def staff_user(db):
    user = StaffUserFactory()
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    return user


def login_verified(client, user):
    """Log a staff user in with a verified second factor (as after the TOTP step)."""
    client.force_login(user, backend=MODEL_BACKEND)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="default", confirmed=True
    )
    session = client.session
    session[django_otp.DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def staff_client(client, staff_user):
    return login_verified(client, staff_user)


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def on_mysql():
    return connection.vendor == "mysql"

import pytest

from tests.factories import CustomerFactory

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture(autouse=True)
def _sandbox_help_desk(settings):
    settings.SUPPORT_BACKEND = "sandbox"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""


@pytest.fixture
def customer(db):
    return CustomerFactory(user__first_name="Ada", user__last_name="Lovelace")


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user, backend=MODEL_BACKEND)
    return client

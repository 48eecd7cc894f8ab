import datetime as dt

import pytest
from django.urls import reverse

from core import clock
from core.provisioning.models import SandboxResource
from core.provisioning.services import create_service
from tests.factories import CustomerFactory

from .conftest import paid_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_service(customer, product, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(*paid_item(product, customer=customer))
    service.refresh_from_db()
    return service


@pytest.fixture
def other_service(product, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        service = create_service(*paid_item(product, customer=CustomerFactory()))
    return service


def test_list_shows_only_my_services(customer_client, own_service, other_service):
    response = customer_client.get(reverse("portal:service_list"))
    assert response.status_code == 200
    assert own_service.hostname.encode() in response.content
    assert other_service.hostname.encode() not in response.content


def test_detail_shows_status_usage_and_controls_without_credentials(customer_client, own_service):
    response = customer_client.get(reverse("portal:service_detail", args=[own_service.uuid]))
    assert response.status_code == 200
    body = response.content.decode()
    assert own_service.primary_ip in body and "Active" in body
    assert "Usage" in body and "running" in body
    assert "Restart" in body and "Open control panel" in body
    assert own_service.credentials["password"] not in body


@pytest.mark.parametrize(
    "name,method", [("service_detail", "get"), ("service_credentials", "get"), ("service_power", "post"),
                    ("service_panel", "post"), ("service_credentials_reset", "post")]
)  # fmt: skip
def test_another_customers_service_is_not_found(customer_client, other_service, name, method):
    response = getattr(customer_client, method)(reverse(f"portal:{name}", args=[other_service.uuid]))
    assert response.status_code == 404


def test_credentials_need_the_password_again(customer_client, customer, own_service):
    url = reverse("portal:service_credentials", args=[own_service.uuid])
    password = own_service.credentials["password"]
    response = customer_client.get(url)
    assert password not in response.content.decode() and "confirm your account password" in response.content.decode()
    response = customer_client.post(url, {"password": "wrong password"})
    assert "That is not your password" in response.content.decode()
    assert password not in response.content.decode()
    response = customer_client.post(url, {"password": "correct horse battery"}, follow=True)
    assert password in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_revealed_credentials_expire_after_the_reauth_window(customer_client, own_service, settings):
    settings.PROVISIONING = {"REAUTH_MINUTES": 5}
    url = reverse("portal:service_credentials", args=[own_service.uuid])
    customer_client.post(url, {"password": "correct horse battery"})
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=6)):
        response = customer_client.get(url)
    assert own_service.credentials["password"] not in response.content.decode()


def test_power_button_reaches_the_platform(customer_client, customer, own_service):
    url = reverse("portal:service_power", args=[own_service.uuid])
    response = customer_client.post(url, {"signal": "shutdown"})
    assert response.status_code == 302
    assert SandboxResource.objects.get(external_id=str(own_service.uuid)).power_state == "stopped"
    assert own_service.jobs.filter(action="power", argument="shutdown", requested_by=customer.user).exists()


def test_panel_button_redirects_to_single_sign_on(customer_client, own_service):
    response = customer_client.post(reverse("portal:service_panel", args=[own_service.uuid]))
    assert response.status_code == 302 and "sso=" in response["Location"]
    job = own_service.jobs.get(action="panel_url")
    assert "sso=" not in str(job.response)


def test_reset_credentials_requires_recent_reauth(customer_client, own_service):
    old = own_service.credentials["password"]
    reset = reverse("portal:service_credentials_reset", args=[own_service.uuid])
    customer_client.post(reset)
    own_service.refresh_from_db()
    assert own_service.credentials["password"] == old
    customer_client.post(
        reverse("portal:service_credentials", args=[own_service.uuid]), {"password": "correct horse battery"}
    )
    customer_client.post(reset)
    own_service.refresh_from_db()
    assert own_service.credentials["password"] != old and len(own_service.credentials["password"]) >= 20

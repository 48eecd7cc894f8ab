"""Reinstall from the service page: the customer picks an OS template from the product's list,
confirms that the server is erased, and the reinstall is queued (once) through core; states and
platforms that do not allow it show the button disabled with the reason."""

from decimal import Decimal

import pytest
from django.urls import reverse

from core.provisioning.models import ProvisioningJob, Service
from core.provisioning.services import create_service
from tests.factories import PlatformConnectionFactory, PriceFactory, ProductFactory, ServiceFactory
from tests.provisioning.conftest import paid_item

from .conftest import VPS_OPTIONS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commits", "sandbox_portal")]


@pytest.fixture
def service(shopper, django_capture_on_commit_callbacks):
    platform = PlatformConnectionFactory(name="sandbox-instant", defaults={"build_seconds": 0})
    product = ProductFactory(
        name="VPS 2 GB", platform="sandbox", platform_connection=platform, order_options=VPS_OPTIONS
    )
    PriceFactory(product=product, currency=shopper.currency, amount=Decimal("20.00"))
    with django_capture_on_commit_callbacks(execute=True):
        made = create_service(*paid_item(product, customer=shopper))
    made.refresh_from_db()
    made.config = {**made.config, "os_template": 12}
    made.save()
    assert made.status == Service.Status.ACTIVE
    return made


def url(service) -> str:
    return reverse("portal:service_reinstall", args=[service.uuid])


def test_the_page_lists_the_products_templates_with_the_current_one_chosen_and_warns_it_erases(shopper_client, service):
    body = shopper_client.get(url(service)).content.decode()
    assert "This erases the server." in body
    assert "Debian 12" in body and "Ubuntu 24.04" in body
    assert 'value="12" required checked' in body
    assert 'name="confirm" value="erase" required' in body
    assert "new root password" in body and "same panel login" not in body


def test_a_game_servers_page_speaks_of_games_and_no_root_password(shopper_client, service):
    service.product.service_type = "game_server"
    service.product.order_options = {"eggs": [{"id": 5, "label": "Paper", "nest_id": 1, "variables": []}]}
    service.product.save()
    body = shopper_client.get(url(service)).content.decode()
    assert "Which game to install" in body and "Paper" in body
    assert "same panel login" in body and "root password" not in body


def test_confirming_queues_the_reinstall_and_the_page_says_it_runs(shopper_client, service):
    old_password = service.credentials["password"]
    response = shopper_client.post(url(service), {"template": "14", "confirm": "erase"})
    assert response.status_code == 302
    service.refresh_from_db()
    job = ProvisioningJob.objects.get(service=service, action="reinstall")
    assert job.argument == "14" and job.requested_by == service.customer.user
    # The sandbox installs at once (build_seconds 0): done, with a new password and the new template.
    assert job.outcome == "succeeded"
    assert service.pending_action == "" and service.config["os_template"] == "14"
    assert service.credentials["password"] != old_password
    assert "Reinstalling" in shopper_client.get(response.url).content.decode()


def test_without_the_confirmation_nothing_is_queued(shopper_client, service):
    response = shopper_client.post(url(service), {"template": "14"})
    assert response.status_code == 422
    assert "Tick the box to confirm" in response.content.decode()
    assert not ProvisioningJob.objects.filter(service=service, action="reinstall").exists()


def test_a_template_outside_the_products_list_is_refused_on_the_field(shopper_client, service):
    response = shopper_client.post(url(service), {"template": "99", "confirm": "erase"})
    assert response.status_code == 422
    assert "That operating system is not offered" in response.content.decode()
    assert not ProvisioningJob.objects.filter(service=service, action="reinstall").exists()


def test_posting_twice_queues_one_reinstall(shopper_client, service):
    service.connection.defaults = {"build_seconds": 600}
    service.connection.save()
    shopper_client.post(url(service), {"template": "14", "confirm": "erase"})
    second = shopper_client.post(url(service), {"template": "14", "confirm": "erase"})
    assert second.status_code == 302
    assert ProvisioningJob.objects.filter(service=service, action="reinstall").count() == 1
    body = shopper_client.get(second.url).content.decode()
    assert "A reinstall is already running" in body
    assert 'data-testid="reinstalling"' in body and 'data-testid="reinstall-link"' not in body


def test_a_suspended_service_shows_reinstall_disabled_with_the_reason_and_the_page_refuses(shopper_client, service):
    Service.objects.filter(pk=service.pk).update(status="suspended")
    detail = shopper_client.get(reverse("portal:service_detail", args=[service.uuid])).content.decode()
    assert 'data-testid="reinstall-link"' not in detail
    assert "Reinstalling is unavailable while the service is suspended" in detail
    response = shopper_client.post(url(service), {"template": "14", "confirm": "erase"})
    assert response.status_code == 302
    assert not ProvisioningJob.objects.filter(service=service, action="reinstall").exists()


def test_web_hosting_says_it_has_no_reinstall(shopper_client, shopper):
    enhance = PlatformConnectionFactory(name="enhance-eu", platform="enhance")
    hosting = ServiceFactory(
        customer=shopper, connection=enhance, product=ProductFactory(platform="enhance", service_type="hosting")
    )
    detail = shopper_client.get(reverse("portal:service_detail", args=[hosting.uuid])).content.decode()
    assert "Web hosting has no reinstall" in detail

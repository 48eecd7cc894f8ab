from django.urls import path

from . import webhook_views

urlpatterns = [
    path("stripe/", webhook_views.stripe_webhook, name="webhook_stripe"),
    path("paypal/", webhook_views.paypal_webhook, name="webhook_paypal"),
    path("sandbox/", webhook_views.sandbox_webhook, name="webhook_sandbox"),
]

"""Portal billing routes, included by portal/urls.py (names live in the "portal" namespace)."""

from django.urls import path

from . import history, views

urlpatterns = [
    path("billing/history/", history.payment_history, name="payment_history"),
    path("billing/credit/", history.credit_ledger, name="credit_ledger"),
    path("billing/invoices/", views.invoice_list, name="invoice_list"),
    path("billing/invoices/<uuid:uuid>/", views.invoice_detail, name="invoice_detail"),
    path("billing/invoices/<uuid:uuid>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("billing/invoices/<uuid:uuid>/pay/", views.invoice_pay, name="invoice_pay"),
    path("billing/invoices/<uuid:uuid>/pay/confirm/", views.invoice_pay_confirm, name="invoice_pay_confirm"),
    path("billing/methods/", views.payment_methods, name="payment_methods"),
    path("billing/methods/add/<str:gateway>/", views.payment_method_add, name="payment_method_add"),
    path("billing/methods/complete/<str:gateway>/", views.payment_method_complete, name="payment_method_complete"),
    path("billing/methods/<int:pk>/remove/", views.payment_method_remove, name="payment_method_remove"),
    path("billing/methods/<int:pk>/default/", views.payment_method_default, name="payment_method_default"),
    path("billing/subscriptions/", views.subscription_list, name="subscription_list"),
    path("billing/subscriptions/<uuid:uuid>/", views.subscription_detail, name="subscription_detail"),
    path(
        "billing/subscriptions/<uuid:uuid>/paypal/start/",
        views.subscription_paypal_start,
        name="subscription_paypal_start",
    ),
    path(
        "billing/subscriptions/<uuid:uuid>/paypal/return/",
        views.subscription_paypal_return,
        name="subscription_paypal_return",
    ),
    path(
        "billing/subscriptions/<uuid:uuid>/paypal/cancel/",
        views.subscription_paypal_cancel,
        name="subscription_paypal_cancel",
    ),
]

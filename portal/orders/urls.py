"""Portal order routes: catalog, checkout, paying an order, watching it being set up
(included by portal/urls.py; names live in the "portal" namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("order/", views.catalog, name="catalog"),
    path("order/<slug:slug>/", views.checkout, name="checkout"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/<uuid:uuid>/", views.order_detail, name="order_detail"),
    path("orders/<uuid:uuid>/status/", views.order_status, name="order_status"),
    path("orders/<uuid:uuid>/pay/", views.order_pay, name="order_pay"),
    path("orders/<uuid:uuid>/pay/confirm/", views.order_pay_confirm, name="order_pay_confirm"),
]

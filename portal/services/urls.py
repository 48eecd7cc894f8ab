"""Portal service routes, included by portal/urls.py (names live in the "portal" namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("services/", views.service_list, name="service_list"),
    path("services/<uuid:uuid>/", views.service_detail, name="service_detail"),
    path("services/<uuid:uuid>/power/", views.service_power, name="service_power"),
    path("services/<uuid:uuid>/panel/", views.service_panel, name="service_panel"),
    path("services/<uuid:uuid>/credentials/", views.service_credentials, name="service_credentials"),
    path("services/<uuid:uuid>/credentials/reset/", views.service_credentials_reset, name="service_credentials_reset"),
]

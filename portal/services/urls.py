"""Portal service routes, included by portal/urls.py (names live in the "portal" namespace)."""

from django.urls import path

from . import plan, reinstall, views

urlpatterns = [
    path("services/", views.service_list, name="service_list"),
    path("services/<uuid:uuid>/", views.service_detail, name="service_detail"),
    path("services/<uuid:uuid>/power/", views.service_power, name="service_power"),
    path("services/<uuid:uuid>/panel/", views.service_panel, name="service_panel"),
    path("services/<uuid:uuid>/panel/sandbox/", views.service_sandbox_panel, name="service_sandbox_panel"),
    path("services/<uuid:uuid>/credentials/", views.service_credentials, name="service_credentials"),
    path("services/<uuid:uuid>/credentials/reset/", views.service_credentials_reset, name="service_credentials_reset"),
    path("services/<uuid:uuid>/reinstall/", reinstall.service_reinstall, name="service_reinstall"),
    path("services/<uuid:uuid>/change-plan/", plan.service_change_plan, name="service_change_plan"),
    path("services/<uuid:uuid>/cancel/", plan.service_cancel, name="service_cancel"),
    path("services/<uuid:uuid>/cancel/undo/", plan.service_cancel_undo, name="service_cancel_undo"),
]

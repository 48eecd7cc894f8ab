"""Portal support routes, included by portal/urls.py (names live in the "portal" namespace)."""

from django.urls import path

from . import views, webhook

urlpatterns = [
    path("support/", views.ticket_list, name="ticket_list"),
    path("support/new/", views.ticket_new, name="ticket_new"),
    path("support/sso/", views.ticket_sso, name="ticket_sso"),
    path("support/events/", webhook.ticket_event, name="support_ticket_event"),
    path("support/<int:ticket_id>/", views.ticket_detail, name="ticket_detail"),
]

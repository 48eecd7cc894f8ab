"""Read-side helpers for staff pages (customer 360, service page): tickets from the mirror."""

from .models import SupportTicket


def tickets_for_customer(customer, limit: int | None = 20):
    qs = SupportTicket.objects.filter(customer=customer).select_related("service").order_by("-updated_at")
    return qs[:limit] if limit else qs


def tickets_for_service(service, limit: int | None = 20):
    qs = SupportTicket.objects.filter(service=service).order_by("-updated_at")
    return qs[:limit] if limit else qs

"""Portal access rules: a logged-in user with a customer record sees only that customer's objects."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404


def customer_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not hasattr(request.user, "customer"):
            raise PermissionDenied("This area is for customers.")
        return view(request, *args, **kwargs)

    return wrapper


def get_own_or_404(queryset, request, **lookup):
    """Fetch an object that belongs to the requesting customer, or 404 (never 403: don't reveal it exists)."""
    try:
        return queryset.get(customer=request.user.customer, **lookup)
    except queryset.model.DoesNotExist as exc:
        raise Http404("Not found") from exc


def is_impersonating(request) -> bool:
    """True while a staff member browses the portal as this customer (django-hijack)."""
    return bool(getattr(getattr(request, "user", None), "is_hijacked", False))


def refuse_while_impersonating(view):
    """Money-moving portal actions (pay, add/remove a payment method, cancel, change plan) are the
    customer's own: staff impersonating them are refused with a clear message and nothing changes.

    Only unsafe methods are refused, so staff can still look at the page they are helping with.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD", "OPTIONS") and is_impersonating(request):
            from django.contrib import messages
            from django.shortcuts import redirect
            from django.utils.http import url_has_allowed_host_and_scheme

            messages.error(
                request,
                "You are impersonating this customer: payments, payment methods, cancellations and "
                "plan changes can only be made by the customer. Nothing was changed.",
            )
            back = request.META.get("HTTP_REFERER") or ""
            safe = url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure())
            return redirect(back if safe else "portal:home")
        return view(request, *args, **kwargs)

    return wrapper

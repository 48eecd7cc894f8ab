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

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render

from core.accounts.forms import BoundedAuthenticationForm

from .access import customer_required


class PortalLoginView(LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True
    form_class = BoundedAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.malformed:  # refused input (e.g. an over-long email) is a bad request, not a failed login
            response.status_code = 400
        return response

    def get_success_url(self):
        return self.get_redirect_url() or "/"


def login_locked_out(request, original_response=None, credentials=None):
    """axes' answer once a login is throttled: the portal's login page with a clear message (HTTP 429);
    anywhere else (the staff login) axes' own response, unchanged."""
    from django.conf import settings
    from django.http import HttpResponse, JsonResponse

    match = getattr(request, "resolver_match", None)
    if match is not None and "portal" in match.namespaces:
        from axes.helpers import get_cool_off

        cool_off = get_cool_off(request)
        minutes = int(cool_off.total_seconds() // 60) if cool_off else 0
        wait = f"{minutes // 60} hour(s)" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} minutes"
        context = {"locked_out": True, "wait": wait, "next": request.POST.get("next", "")}
        return render(request, "portal/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    from axes.helpers import get_lockout_message

    if request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
        return JsonResponse({"detail": get_lockout_message()}, status=settings.AXES_HTTP_RESPONSE_CODE)
    return HttpResponse(get_lockout_message(), status=settings.AXES_HTTP_RESPONSE_CODE)


def logout_view(request):
    """POST logs out (a link could be forged by another site); GET asks first."""
    if request.method == "POST":
        logout(request)
        return redirect("portal:login")
    if not request.user.is_authenticated:
        return redirect("portal:login")
    return render(request, "portal/logout.html")


@login_required(login_url="portal:login")
@customer_required
def home(request):
    customer = request.user.customer
    context = {
        "customer": customer,
        "services": customer.services.select_related("product").order_by("-created_at")[:20],
        "invoices": customer.invoices.exclude(status="draft").select_related("currency").order_by("-created_at")[:20],
    }
    return render(request, "portal/home.html", context)

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render

from .access import customer_required


class PortalLoginView(LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def get_success_url(self):
        return self.get_redirect_url() or "/"


def logout_view(request):
    logout(request)
    return redirect("portal:login")


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

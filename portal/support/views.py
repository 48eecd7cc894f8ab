"""Customer support pages: tickets listed, read and answered, new tickets opened, SSO to the help desk.

Each view calls core.support.services; a ticket that is not the customer's answers 404 and a help
desk that cannot be reached shows a clear message on a page that still renders.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.provisioning.models import Service
from core.support import services as support
from core.support.errors import SupportError, SupportUnavailable, TicketNotFound
from portal.access import customer_required

UNAVAILABLE = "Our help desk cannot be reached right now. Please try again in a few minutes, or email us."


class ReplyForm(forms.Form):
    text = forms.CharField(label="Your reply", widget=forms.Textarea(attrs={"rows": 6}), max_length=support.MAX_TEXT)


class NewTicketForm(forms.Form):
    department = forms.ChoiceField(label="Department")
    service = forms.ChoiceField(label="About a service (optional)", required=False)
    subject = forms.CharField(max_length=support.MAX_SUBJECT)
    text = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 8}), max_length=support.MAX_TEXT)

    def __init__(self, *args, departments, services, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [(d.id, d.name) for d in departments]
        self.fields["service"].choices = [("", "— None —")] + [(str(s.pk), f"{s} ({s.product.name})") for s in services]


def _ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _own_services(request):
    return (
        Service.objects.filter(customer=request.user.customer)
        .exclude(status=Service.Status.TERMINATED)
        .select_related("product")
        .order_by("-created_at")
    )


@login_required(login_url="portal:login")
@customer_required
def ticket_list(request):
    customer = request.user.customer
    tickets, error = [], ""
    try:
        tickets = support.customer_tickets(customer)
    except SupportUnavailable as exc:
        error = str(exc) or UNAVAILABLE
    except SupportError:
        error = UNAVAILABLE
    return render(request, "portal/support/list.html", {"tickets": tickets, "error": error,
                                                       "can_sso": _can_sso()})  # fmt: skip


def _can_sso() -> bool:
    from django.conf import settings

    return bool((getattr(settings, "SUPPORTPAL", {}) or {}).get("SIMPLEAUTH_KEY")) and settings.SUPPORT_BACKEND == (
        "supportpal"
    )


@login_required(login_url="portal:login")
@customer_required
def ticket_detail(request, ticket_id):
    customer = request.user.customer
    try:
        ticket, thread = support.get_customer_ticket(customer, str(ticket_id))
    except TicketNotFound as exc:
        raise Http404("Not found") from exc
    except SupportError:
        return render(request, "portal/support/detail.html", {"error": UNAVAILABLE, "ticket": None})
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            support.reply_to_ticket(customer, ticket.id, text=form.cleaned_data["text"], ip=_ip(request))
        except TicketNotFound as exc:
            raise Http404("Not found") from exc
        except SupportUnavailable:
            messages.error(request, UNAVAILABLE + " Your reply was not sent.")
        except SupportError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, "Your reply was sent.")
            return redirect("portal:ticket_detail", ticket_id=ticket.id)
    service = customer.services.filter(pk=int(ticket.service_ref)).first() if ticket.service_ref.isdigit() else None
    return render(request, "portal/support/detail.html",
                  {"ticket": ticket, "thread": thread, "form": form, "service": service})  # fmt: skip


@login_required(login_url="portal:login")
@customer_required
def ticket_new(request):
    customer = request.user.customer
    try:
        departments = support.departments()
    except SupportError:
        return render(request, "portal/support/new.html", {"error": UNAVAILABLE, "form": None})
    services = list(_own_services(request))
    initial = {"service": request.GET.get("service", "")}
    form = NewTicketForm(request.POST or None, departments=departments, services=services, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        service = next((s for s in services if str(s.pk) == data["service"]), None)
        try:
            ticket = support.open_ticket(
                customer, department_id=data["department"], subject=data["subject"], text=data["text"],
                service=service, ip=_ip(request), actor=request.user,
            )  # fmt: skip
        except SupportUnavailable:
            messages.error(request, UNAVAILABLE + " Your ticket was not opened.")
        except SupportError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Ticket #{ticket.number} is open. We will answer by email and here.")
            return redirect("portal:ticket_detail", ticket_id=ticket.id)
    return render(request, "portal/support/new.html", {"form": form})


@login_required(login_url="portal:login")
@customer_required
@require_POST
def ticket_sso(request):
    try:
        url = support.sso_url(request.user.customer)
    except SupportError:
        url = ""
    if not url:
        messages.error(request, "Signing in to the help desk is not available right now.")
        return redirect("portal:ticket_list")
    return redirect(url)

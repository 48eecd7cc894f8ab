"""Reinstalling from the service page: the customer picks what to install from the product's list
(OS templates; eggs for game servers) and confirms that the server is erased. The rules (state,
platform, allowed templates) are core's reinstall_service; this page only asks and explains."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from core.catalog.models import ServiceType
from core.provisioning.errors import ProvisioningError, ReinstallNotAllowed
from core.provisioning.models import Service
from core.provisioning.services import reinstall_blocker, reinstall_service, reinstall_templates
from portal.access import customer_required, get_own_or_404, refuse_while_impersonating


def _current_template(service: Service, templates: list[dict]) -> str:
    """The template the service runs now, when it is one of the list (pre-selected)."""
    config = service.config or {}
    values = {str(v) for k, v in config.items() if k in ("os_template_id", "os_template", "os", "egg_id")}
    return next((str(t["id"]) for t in templates if str(t["id"]) in values), "")


@login_required(login_url="portal:login")
@customer_required
@refuse_while_impersonating
def service_reinstall(request, uuid):
    service = get_own_or_404(Service.objects.select_related("product", "connection"), request, uuid=uuid)
    blocker = reinstall_blocker(service)
    if blocker:
        messages.error(request, blocker)
        return redirect("portal:service_detail", uuid=service.uuid)
    templates = reinstall_templates(service)
    chosen = request.POST.get("template", "") if request.method == "POST" else _current_template(service, templates)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if request.POST.get("confirm") != "erase":
            errors["confirm"] = "Tick the box to confirm that everything on the server is erased."
        else:
            try:
                reinstall_service(service, template=chosen, actor=request.user)
            except ReinstallNotAllowed as exc:
                if exc.field != "template":
                    messages.error(request, str(exc))
                    return redirect("portal:service_detail", uuid=service.uuid)
                errors["template"] = str(exc)
            except ProvisioningError as exc:
                messages.error(request, str(exc))
                return redirect("portal:service_detail", uuid=service.uuid)
            else:
                messages.success(
                    request,
                    f"Reinstalling {service}. It takes a few minutes; the new password is shown under Credentials.",
                )
                return redirect("portal:service_detail", uuid=service.uuid)
    context = {
        "service": service,
        "templates": templates,
        "chosen": chosen,
        "errors": errors,
        "what": "game" if service.product.service_type == ServiceType.GAME_SERVER else "operating system",
    }
    return render(request, "portal/services/reinstall.html", context, status=422 if errors else 200)

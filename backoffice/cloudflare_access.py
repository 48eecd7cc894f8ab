"""Optional: behind Cloudflare Access, staff pages accept only requests carrying a valid
`Cf-Access-Jwt-Assertion` for the configured team and application (CF_ACCESS_TEAM_DOMAIN and
CF_ACCESS_AUDIENCE; unset = off). Checked before Django's own login and second factor, so a leaked
password alone never reaches the admin. Refusals are audited."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponseForbidden

from core.audit.middleware import source_for_path
from core.audit.services import record

HEADER = "HTTP_CF_ACCESS_JWT_ASSERTION"


class CloudflareAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        team, audience = settings.CF_ACCESS_TEAM_DOMAIN, settings.CF_ACCESS_AUDIENCE
        if team and audience and source_for_path(request.path) == "admin":
            from integrations.cloudflare.access import AccessDenied, verify_assertion

            try:
                claims = verify_assertion(request.META.get(HEADER, ""), team_domain=team, audience=audience)
            except AccessDenied as exc:
                record("auth.cf_access_refused", message=str(exc)[:500], data={"path": request.path[:200]})
                return HttpResponseForbidden("This page is only reachable through Cloudflare Access.")
            request.cf_access_email = claims.get("email", "")
        return self.get_response(request)

"""Portal-wide protections: a strict Content-Security-Policy and the second-factor step after login.

CSP (Django 5.2 has none built in): portal pages may load scripts, styles, fonts and images only from
this site, plus Stripe.js where a card is entered. An inline <script> or <style> runs only when it
carries the per-request nonce (`{{ request.csp_nonce }}`); inline `style=""` attributes and `on…=`
handlers never do, so templates use classes from portal/static/portal/portal.css and data-attributes
that portal.js handles (data-confirm, data-menu-toggle). The admin keeps its own headers (Unfold
needs inline scripts); only responses to portal URLs get this policy.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp.middleware import OTPMiddleware
from hijack.middleware import HijackUserMiddleware

STRIPE_JS = "https://js.stripe.com"


def content_security_policy(nonce: str) -> str:
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'", STRIPE_JS],
        "style-src": ["'self'", f"'nonce-{nonce}'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", "https://api.stripe.com"],
        "frame-src": [STRIPE_JS, "https://hooks.stripe.com"],
        # Paying with PayPal or a 3-D Secure page posts to, or is redirected to, the provider's own site.
        "form-action": ["'self'", "https:"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _is_portal(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and "portal" in match.namespaces


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api(request):  # JSON only: no page, no nonce
            return self.get_response(request)
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if _is_portal(request) and "Content-Security-Policy" not in response:
            header = (
                "Content-Security-Policy-Report-Only"
                if getattr(settings, "PORTAL_CSP_REPORT_ONLY", False)
                else "Content-Security-Policy"
            )
            response[header] = content_security_policy(request.csp_nonce)
        return response


# Pages a half-logged-in user (password given, second factor not yet) may still reach.
SECOND_FACTOR_EXEMPT = {"login", "login_verify", "logout", "verify_email", "signup_done"}


class PortalTwoFactorMiddleware:
    """Users with a confirmed authenticator app or passkey give it before any other portal page.

    The login signal marks the session (core.accounts.signals); staff impersonating a customer
    (django-hijack) are not asked for the customer's second factor.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not request.session.get("second_factor_required"):
            return None
        if getattr(user, "is_hijacked", False) or (hasattr(user, "is_verified") and user.is_verified()):
            return None
        match = request.resolver_match
        if match is None or "portal" not in match.namespaces or match.url_name in SECOND_FACTOR_EXEMPT:
            return None
        return redirect(f"{reverse('portal:login_verify')}?{urlencode({'next': request.get_full_path()})}")


API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


class NotForApi:
    """Mixed into a middleware (as the first base) so that REST API requests (/api/) skip it.

    The API authenticates each request by its bearer token only (portal/api/auth.py) and answers JSON:
    it has no use for the session, the session user, messages or impersonation, which
    otherwise cost CPU on every API request. API requests get an anonymous `request.user`, so code
    that reads it (audit context, history records) still works. Each class below stays a subclass of
    the middleware it replaces, which the admin's and the packages' system checks look for.
    """

    def __call__(self, request):
        if is_api(request):
            if not hasattr(request, "user"):
                request.user = AnonymousUser()
            return self.get_response(request)
        return super().__call__(request)


class SessionExceptApi(NotForApi, SessionMiddleware):
    pass


class AuthenticationExceptApi(NotForApi, AuthenticationMiddleware):
    pass


class OTPExceptApi(NotForApi, OTPMiddleware):
    pass


class MessagesExceptApi(NotForApi, MessageMiddleware):
    pass


class HijackExceptApi(NotForApi, HijackUserMiddleware):
    pass

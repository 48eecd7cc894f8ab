from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from two_factor.urls import urlpatterns as two_factor_urls

from backoffice.impersonation import AcquireWithReasonView, ReleaseWithAuditView
from core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Staff login, 2FA setup and passkeys in Unfold's layout (before two-factor's own URLs, same paths).
    path("", include("backoffice.auth_urls")),
    path("", include(two_factor_urls)),
    path("webauthn/", include("django_otp_webauthn.urls", namespace="otp_webauthn")),
    # Impersonation needs a typed reason and is audited at start and end (backoffice/impersonation.py);
    # these two come before hijack's own URLs with the same names.
    path("hijack/acquire/", AcquireWithReasonView.as_view()),
    path("hijack/release/", ReleaseWithAuditView.as_view()),
    path("hijack/", include("hijack.urls")),
    path("anymail/", include("anymail.urls")),
    path("webhooks/", include("core.billing.webhook_urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("", include("portal.urls")),
]

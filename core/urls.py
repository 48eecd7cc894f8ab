from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from two_factor.urls import urlpatterns as two_factor_urls

from backoffice.auth_views import BackofficeLoginView
from core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Staff login: two-factor's wizard, rendered in Unfold's layout (before two-factor's own URLs).
    path("account/login/", BackofficeLoginView.as_view(), name="login"),
    path("", include(two_factor_urls)),
    path("webauthn/", include("django_otp_webauthn.urls", namespace="otp_webauthn")),
    path("hijack/", include("hijack.urls")),
    path("anymail/", include("anymail.urls")),
    path("webhooks/", include("core.billing.webhook_urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("", include("portal.urls")),
]

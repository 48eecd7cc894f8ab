"""Portal account routes, included by portal/urls.py (names live in the "portal" namespace).

Paths avoid /account/…: two-factor's staff login owns those.
"""

from django.urls import path

from portal.access import refuse_while_impersonating

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/done/", views.signup_done, name="signup_done"),
    path("verify-email/resend/", views.verify_email_resend, name="verify_email_resend"),
    path("verify-email/<str:token>/", views.verify_email, name="verify_email"),
    path("login/verify/", views.login_verify, name="login_verify"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password-reset/complete/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("settings/profile/", views.profile, name="profile"),
    path("settings/contacts/", views.contacts, name="contacts"),
    path("settings/contacts/<int:pk>/", views.contact_edit, name="contact_edit"),
    path("settings/contacts/<int:pk>/remove/", views.contact_remove, name="contact_remove"),
    path("settings/security/", views.security, name="security"),
    path(
        "settings/security/password/",
        views._portal(refuse_while_impersonating(views.PasswordChangeView.as_view())),
        name="password_change",
    ),
    path("settings/security/totp/", views.totp_setup, name="totp_setup"),
    path("settings/security/two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("settings/security/sessions/<int:pk>/end/", views.session_end, name="session_end"),
    path("settings/security/sessions/end-all/", views.sessions_end_all, name="sessions_end_all"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]

"""Staff auth pages in Unfold's layout. Mounted before two-factor's own URLs, on the same
paths, so `two_factor:*` names keep working and resolve to these views."""

from django.urls import path

from . import auth_views

urlpatterns = [
    path("account/login/", auth_views.BackofficeLoginView.as_view(), name="login"),
    path("account/two_factor/setup/", auth_views.BackofficeSetupView.as_view(), name="backoffice_2fa_setup"),
    path(
        "account/two_factor/setup/complete/",
        auth_views.BackofficeSetupCompleteView.as_view(),
        name="backoffice_2fa_setup_complete",
    ),
    path(
        "account/two_factor/backup/tokens/",
        auth_views.BackofficeBackupTokensView.as_view(),
        name="backoffice_2fa_backup_tokens",
    ),
    path("account/two_factor/", auth_views.BackofficeProfileView.as_view(), name="backoffice_2fa_profile"),
    path("account/two_factor/disable/", auth_views.BackofficeDisableView.as_view(), name="backoffice_2fa_disable"),
    path("account/passkeys/add/", auth_views.PasskeyRegisterView.as_view(), name="backoffice_passkey_register"),
    path("account/passkeys/verify/", auth_views.PasskeyVerifyView.as_view(), name="backoffice_passkey_verify"),
]

from django.contrib.admin.apps import AdminConfig


class OTPAdminConfig(AdminConfig):
    """django.contrib.admin whose default site is Unfold's, behind two factors."""

    default_site = "core.admin_site.OTPUnfoldAdminSite"

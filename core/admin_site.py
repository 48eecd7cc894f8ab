from two_factor.admin import AdminSiteOTPRequiredMixin
from unfold.sites import UnfoldAdminSite


class OTPUnfoldAdminSite(AdminSiteOTPRequiredMixin, UnfoldAdminSite):
    """The staff back office: Unfold's look, and no page without a verified second factor."""

    site_header = "EZSCALE Backoffice"
    site_title = "EZSCALE Backoffice"
    index_title = "Dashboard"

from django.contrib import admin
from two_factor.views import LoginView


class BackofficeLoginView(LoginView):
    """two-factor's login wizard in Unfold's layout."""

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form, **kwargs)
        context.update(admin.site.each_context(self.request))
        return context

    def get_prefix(self, request, *args, **kwargs):
        # formtools derives the POST prefix from the class name; keep two-factor's own.
        return "login_view"

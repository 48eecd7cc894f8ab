"""List columns shared by the billing admins."""

from unfold.decorators import display

from ..cells import header


class CustomerColumnMixin:
    """A two-line customer cell (name, email); the queryset must select customer__user."""

    @display(description="Customer", ordering="customer__company")
    def customer_cell(self, obj):
        return header(obj.customer.display_name, obj.customer.user.email)

"""List columns shared by the billing admins."""

from unfold.decorators import display


class CustomerColumnMixin:
    """A two-line customer cell (name, email); the queryset must select customer__user."""

    @display(description="Customer", header=True, ordering="customer__company")
    def customer_cell(self, obj):
        return [obj.customer.display_name, obj.customer.user.email]

"""`{{ credentials_token|unseal_credentials }}`: opens credentials sealed for the welcome email."""

from django import template

from core.provisioning.services.credentials import unseal

register = template.Library()


@register.filter
def unseal_credentials(token: str) -> dict:
    return unseal(token)

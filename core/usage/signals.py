"""Keep ServiceAddress in step with the IPs platform drivers save on the service.

Build, poll and status syncs save Service.primary_ip / ip_addresses (core.provisioning.services);
this receiver turns those into validity intervals, so the provisioning code needs no change.
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from core.provisioning.models import Service

_WATCHED = {"primary_ip", "ip_addresses", "status"}


@receiver(post_save, sender=Service, dispatch_uid="usage.sync_service_addresses")
def service_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw:
        return
    if update_fields is not None and not (_WATCHED & set(update_fields)):
        return
    if created and not (instance.primary_ip or instance.ip_addresses):
        return
    from .addresses import sync_service_addresses

    sync_service_addresses(instance)

"""Keep the help desk user in step when a customer changes their name or email."""

from django.db import transaction

SYNCED_FIELDS = ("email", "first_name", "last_name")


def remember_old_values(sender, instance, **kwargs):
    if instance.pk is None:
        return
    old = sender.objects.filter(pk=instance.pk).values(*SYNCED_FIELDS).first()
    instance._support_old = old


def queue_sync_if_changed(sender, instance, created, **kwargs):
    old = getattr(instance, "_support_old", None)
    if created or old is None:
        return
    if all(old[f] == getattr(instance, f) for f in SYNCED_FIELDS):
        return
    customer = getattr(instance, "customer", None) if hasattr(instance, "customer") else None
    if customer is None or not customer.supportpal_user_id:
        return
    from django_q.tasks import async_task

    customer_id = customer.pk
    transaction.on_commit(lambda: async_task("core.support.tasks.sync_customer", customer_id, group="support"))


def connect():
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_save, pre_save

    user_model = get_user_model()
    pre_save.connect(remember_old_values, sender=user_model, dispatch_uid="support.remember_old_values")
    post_save.connect(queue_sync_if_changed, sender=user_model, dispatch_uid="support.queue_sync")

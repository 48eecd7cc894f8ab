"""Readable field labels in admin forms: "WHMCS ID", "IP address", "EU VAT", never "Whmcs id" or "Is eu vat".

Django builds a label from the field name when a model gives no verbose_name. The apps that
own billing and provisioning keep their models as they are; the admin forms here relabel
every such field with the words staff use. A field with its own verbose_name keeps it.
"""

from __future__ import annotations

from django.db import models
from django.utils.text import capfirst

# Words Django's name-to-label step gets wrong: acronyms, brands, units, abbreviations.
WORDS = {
    "id": "ID", "uuid": "UUID", "ip": "IP", "ipv4": "IPv4", "ipv6": "IPv6", "url": "URL", "api": "API",
    "tls": "TLS", "pdf": "PDF", "eu": "EU", "vat": "VAT", "whmcs": "WHMCS", "paypal": "PayPal",
    "supportpal": "SupportPal", "cpu": "CPU", "ram": "RAM", "ok": "OK", "mb": "(MB)", "gb": "(GB)",
    "ms": "(ms)", "last4": "last 4 digits", "exp": "expiry",
}  # fmt: skip


def readable_label(field: models.Field) -> str | None:
    """The label staff should read for `field`, or None when Django's own label is right already."""
    name = getattr(field, "name", "")
    verbose = str(getattr(field, "verbose_name", ""))
    if not name or verbose != name.replace("_", " "):
        return None  # the model chose its label
    words = verbose.split()
    if len(words) > 1 and words[0] == "is":  # "is active" -> "Active": a checkbox already asks the question
        words = words[1:]
    label = " ".join(WORDS.get(word, word) for word in words)
    label = label[:1].upper() + label[1:]
    return None if label == capfirst(verbose) else label


def form_labels(model: type[models.Model]) -> dict[str, str]:
    """`{field name: label}` for the fields of `model` whose generated label reads badly."""
    labels = {}
    for field in model._meta.get_fields():
        label = readable_label(field) if field.concrete or field.many_to_many else None
        if label:
            labels[field.name] = label
    return labels


class FieldLabelsMixin:
    """ModelAdmin/InlineModelAdmin: pass readable labels to the generated form.

    Django's AdminReadonlyField reads `form._meta.labels` before the model field's verbose name,
    so these labels reach read-only fields too.
    """

    def _labels(self, kwargs: dict) -> dict:
        return {**form_labels(self.model), **(kwargs.get("labels") or {})}

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["labels"] = self._labels(kwargs)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["labels"] = self._labels(kwargs)
        return super().get_formset(request, obj, **kwargs)


def column(model: type[models.Model], name: str):
    """A list_display column for a plain field, headed with its readable label.

    Column headers come from the model field's verbose name with no form in between, so a
    field whose generated label reads badly is listed through this small display function.
    """
    from unfold.decorators import display

    field = model._meta.get_field(name)
    is_bool = isinstance(field, models.BooleanField)

    def cell(obj):
        return getattr(obj, name)

    cell.__name__ = cell.__qualname__ = f"{name}_column"
    return display(description=readable_label(field) or capfirst(field.verbose_name), ordering=name, boolean=is_bool)(
        cell
    )

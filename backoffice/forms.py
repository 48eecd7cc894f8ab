"""Plain Django forms shown inside the Unfold admin (action dialogs, confirmation pages).

Unfold styles only its own widgets: a plain `forms.CharField` renders as an input with no
border, so staff see a label and nothing to type into. These bases swap each plain widget
for the Unfold widget of the same kind when the form is built.
"""

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from unfold import widgets as unfold_widgets
from unfold.forms import BaseDialogForm


def unfold_widget_for(field: forms.Field) -> forms.Widget | None:
    """The Unfold widget that matches a plain field, or None to keep the field's own widget."""
    widget = field.widget
    if isinstance(widget, forms.HiddenInput) or type(widget).__module__.startswith("unfold."):
        return None
    if isinstance(field, forms.BooleanField):
        return unfold_widgets.UnfoldBooleanSwitchWidget()
    if isinstance(field, forms.ChoiceField):
        return unfold_widgets.UnfoldAdminSelectWidget()
    if isinstance(field, forms.DateField):
        # The browser's own date picker: admin calendar scripts are not loaded inside dialogs.
        date_input = unfold_widgets.UnfoldAdminTextInputWidget()
        date_input.input_type = "date"
        return date_input
    if isinstance(field, forms.DecimalField):
        return unfold_widgets.UnfoldAdminDecimalFieldWidget()
    if isinstance(field, forms.IntegerField):
        return unfold_widgets.UnfoldAdminIntegerFieldWidget()
    if isinstance(widget, forms.Textarea):
        return unfold_widgets.UnfoldAdminTextareaWidget()
    if isinstance(widget, forms.TextInput):
        return unfold_widgets.UnfoldAdminTextInputWidget()
    return None


class UnfoldWidgetsMixin:
    """Give every plain field of the form its Unfold widget (attributes such as min/step kept)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            styled = unfold_widget_for(field)
            if styled is None:
                continue
            styled.attrs = {**field.widget.attrs, **styled.attrs}
            styled.is_required = field.widget.is_required
            if hasattr(field, "choices"):
                styled.choices = field.choices
            field.widget = styled


class DialogForm(UnfoldWidgetsMixin, BaseDialogForm):
    """Base for the forms of Unfold `@action(dialog=...)` actions."""


class StyledForm(UnfoldWidgetsMixin, forms.Form):
    """Base for plain forms rendered on admin pages (confirmation pages)."""


def finish_dialog(request: HttpRequest, url: str) -> HttpResponse:
    """Leave an action dialog for `url`.

    Unfold posts dialogs with htmx into the open dialog: a plain 302 is followed inside it and
    leaves an empty dialog on screen, the result unseen until a reload. htmx navigates the
    whole page on an `HX-Redirect` header (Unfold's documented way); other clients get a 302.
    """
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)

"""Rendering catalogue emails: the staff-edited DB template when there is one, else the file.

`check_template` is the save-time guard: it renders subject and bodies with the catalogue's
sample data and a marker for unknown variables, so a typo is refused with the error shown.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.template import Context, Engine, Template, TemplateDoesNotExist, engines
from django.template.loader import render_to_string

from . import catalogue

log = logging.getLogger(__name__)

_CACHE_PREFIX = "notifications:template:"
_CACHE_SECONDS = 300
_MISSING = "__none__"
_UNKNOWN = "\x00UNKNOWN:%s\x00"
_UNKNOWN_RE = re.compile("\x00UNKNOWN:(.*?)\x00")


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


class TemplateProblem(Exception):
    def __init__(self, part: str, message: str):
        super().__init__(message)
        self.part = part
        self.message = message


def base_context(context: dict, subject: str = "") -> dict:
    return {"company": settings.COMPANY, "site_url": settings.SITE_URL, "subject": subject, **context}


def file_template_path(key: str, ext: str) -> Path | None:
    for directory in settings.TEMPLATES[0].get("DIRS", []):
        path = Path(directory) / "emails" / f"{key}.{ext}"
        if path.exists():
            return path
    return None


def file_sources(key: str) -> tuple[str, str] | None:
    """(text, html) of the built-in file template, or None when there is none."""
    text, html = file_template_path(key, "txt"), file_template_path(key, "html")
    if not text or not html:
        return None
    return text.read_text(), html.read_text()


def forget_cached(key: str) -> None:
    cache.delete(_CACHE_PREFIX + key)


def _db_template(key: str):
    """The active DB template as a (subject, text, html) tuple, cached so sends stay query-light."""
    cached = cache.get(_CACHE_PREFIX + key)
    if cached == _MISSING:
        return None
    if cached is not None:
        return cached
    from .models import EmailTemplate

    row = EmailTemplate.objects.filter(key=key, is_active=True).values_list("subject", "text_body", "html_body")
    found = row.first()
    cache.set(_CACHE_PREFIX + key, found or _MISSING, _CACHE_SECONDS)
    return found


def _django_engine() -> Engine:
    return engines["django"].engine


def _render_subject(source: str, ctx: dict, engine: Engine | None = None) -> str:
    template = Template("{% autoescape off %}" + source + "{% endautoescape %}", engine=engine or _django_engine())
    return " ".join(template.render(Context(ctx)).split())[:255]


def render(key: str, context: dict, *, subject: str = "") -> Rendered:
    """Render a catalogue email. `subject` is the caller's proposal, used when nothing better exists."""
    ctx = base_context(context, subject)
    stored = _db_template(key)
    if stored:
        db_subject, text_source, html_source = stored
        try:
            engine = _django_engine()
            return Rendered(
                subject=_render_subject(db_subject, ctx) or subject,
                text=Template(text_source, engine=engine).render(Context(ctx, autoescape=False)),
                html=Template(html_source, engine=engine).render(Context(ctx)),
            )
        except Exception:  # checked on save; a later change to a shared base must not stop mail
            log.exception("Email template %s failed to render; falling back to the file template", key)
    event = catalogue.event_for_template(key)
    default_subject = subject or (_render_subject(event.subject, ctx) if event and event.subject else key)
    return Rendered(
        subject=default_subject,
        text=render_to_string(f"emails/{key}.txt", ctx),
        html=render_to_string(f"emails/{key}.html", ctx),
    )


def _checking_engine() -> Engine:
    main = _django_engine()
    return Engine(
        dirs=main.dirs, app_dirs=main.app_dirs, libraries=main.libraries, builtins=main.builtins,
        string_if_invalid=_UNKNOWN, autoescape=True,
    )  # fmt: skip


def check_template(key: str, subject: str, text_body: str, html_body: str) -> Rendered:
    """Render all three parts with sample data; raise TemplateProblem(part, message) on the first error."""
    engine = _checking_engine()
    ctx = base_context(catalogue.sample_context(key), subject="Sample subject")
    documented = ", ".join(sorted(catalogue.documented_variables(key)))
    out = {}
    for part, source in (("subject", subject), ("text_body", text_body), ("html_body", html_body)):
        if not source.strip():
            raise TemplateProblem(part, "This part cannot be empty.")
        try:
            if part == "subject":
                result = _render_subject(source, ctx, engine)
            else:
                result = Template(source, engine=engine).render(Context(ctx, autoescape=part == "html_body"))
        except TemplateDoesNotExist as exc:
            raise TemplateProblem(part, f"Template not found: {exc}") from exc
        except Exception as exc:
            raise TemplateProblem(part, f"The template does not render: {exc}") from exc
        for opener, closer in (("{{", "}}"), ("{%", "%}")):
            if opener in result:
                raise TemplateProblem(part, f"A tag is not closed: “{opener}” without its “{closer}”.")
        unknown = sorted(set(_UNKNOWN_RE.findall(result)))
        if unknown:
            raise TemplateProblem(
                part, f"Unknown variable(s): {', '.join(unknown)}. Documented variables: {documented}."
            )
        out[part] = result
    return Rendered(subject=out["subject"], text=out["text_body"], html=out["html_body"])


def preview(key: str, subject: str, text_body: str, html_body: str) -> Rendered:
    """Render with sample data for the admin preview (normal engine: no unknown-variable markers)."""
    engine = _django_engine()
    ctx = base_context(catalogue.sample_context(key), subject="Sample subject")
    return Rendered(
        subject=_render_subject(subject, ctx, engine),
        text=Template(text_body, engine=engine).render(Context(ctx, autoescape=False)),
        html=Template(html_body, engine=engine).render(Context(ctx)),
    )


def ensure_templates() -> int:
    """Create a DB row for every catalogue template that has none (seeded from the files). Returns created."""
    from django.db import IntegrityError, transaction

    from .models import EmailTemplate

    existing = set(EmailTemplate.objects.values_list("key", flat=True))
    created = 0
    for key in catalogue.template_keys():
        if key in existing:
            continue
        sources = file_sources(key)
        if sources is None:
            continue  # no file yet (e.g. bandwidth_alert until the usage app adds it): nothing to seed from
        event = catalogue.event_for_template(key)
        try:
            with transaction.atomic():
                EmailTemplate.objects.create(
                    key=key, subject=event.subject if event else key, text_body=sources[0], html_body=sources[1]
                )
            created += 1
        except IntegrityError:  # seeded concurrently
            continue
    return created

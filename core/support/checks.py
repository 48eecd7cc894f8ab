"""Deploy checks for the help desk settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_support_backend(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    backend = getattr(settings, "SUPPORT_BACKEND", "")
    conf = getattr(settings, "SUPPORTPAL", {}) or {}
    if backend == "sandbox":
        return [checks.Warning("SUPPORT_BACKEND is 'sandbox': customers' tickets go nowhere.",
                               hint="Set SUPPORT_BACKEND=supportpal with SUPPORTPAL_BASE_URL and SUPPORTPAL_API_TOKEN, "
                               "or leave it empty to hide tickets.", id="support.W001")]  # fmt: skip
    if backend == "supportpal":
        missing = [name for name, key in (("SUPPORTPAL_BASE_URL", "BASE_URL"), ("SUPPORTPAL_API_TOKEN", "API_TOKEN"))
                   if not conf.get(key)]  # fmt: skip
        if missing:
            return [checks.Error(f"SUPPORT_BACKEND is 'supportpal' but {', '.join(missing)} is not set.",
                                 id="support.E001")]  # fmt: skip
        if not str(conf["BASE_URL"]).startswith("https://"):
            return [checks.Warning("SUPPORTPAL_BASE_URL is not https: the API token would travel in clear.",
                                   id="support.W002")]  # fmt: skip
    return []

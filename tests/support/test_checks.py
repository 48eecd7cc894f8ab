"""`check --deploy` says when the help desk settings cannot work in production."""

from core.support.checks import check_support_backend


def _ids(settings, backend, **conf):
    settings.SUPPORT_BACKEND = backend
    settings.SUPPORTPAL = {"BASE_URL": "", "API_TOKEN": "", **conf}
    return [m.id for m in check_support_backend()]


def test_deploy_checks_for_the_help_desk(settings):
    assert _ids(settings, "") == []
    assert _ids(settings, "sandbox") == ["support.W001"]
    assert _ids(settings, "supportpal") == ["support.E001"]
    assert _ids(settings, "supportpal", BASE_URL="http://help.example.com", API_TOKEN="t") == ["support.W002"]
    assert _ids(settings, "supportpal", BASE_URL="https://help.example.com", API_TOKEN="t") == []

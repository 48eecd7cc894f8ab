"""`manage.py check --deploy` passes with the production variables README documents."""

from tests.foundation.subprocess_env import production_env, run_python


def _migrated(env):
    # Production checks run against a migrated database (Unfold's admin checks read auth_permission).
    result = run_python(env, "manage.py", "migrate", "--noinput", "-v0", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return env


def test_check_deploy_passes_with_documented_production_variables(tmp_path):
    env = _migrated(production_env(tmp_path))
    result = run_python(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output


def test_check_deploy_fails_when_production_would_send_email_to_the_console(tmp_path):
    env = _migrated(production_env(tmp_path, EMAIL_PROVIDER="console"))
    result = run_python(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "notifications.W001" in result.stdout + result.stderr

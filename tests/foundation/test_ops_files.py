"""The deployment files say what they claim: compose stack, image, CI workflow, CI entry point."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_describes_mysql_redis_web_worker_and_migrate(compose):
    services = compose["services"]
    assert set(services) >= {"db", "redis", "web", "worker", "migrate"}
    assert services["db"]["image"].startswith("mysql:8")
    assert "--character-set-server=utf8mb4" in services["db"]["command"]
    assert services["redis"]["image"].startswith("redis:7")
    assert "core.wsgi:application" in " ".join(services["web"]["command"])
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][-1] == "qcluster"
    assert "migrate" in " ".join(services["migrate"]["command"])
    assert services["migrate"]["restart"] == "no"


def test_compose_app_services_wait_for_migrations_and_share_production_settings(compose):
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = service["environment"]
        assert env["DJANGO_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("mysql://")
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        # Secrets are interpolated from the environment / .env, never written into the file.
        for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS"):
            assert env[secret].startswith("${")


def test_dockerfile_uses_slim_bookworm_with_mysqlclient_and_weasyprint_libraries():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.12-slim-bookworm" in dockerfile
    for package in ("libmariadb-dev", "libmariadb3", "libpango-1.0-0", "libharfbuzz0b", "fonts-dejavu-core"):
        assert package in dockerfile
    assert "gunicorn" in dockerfile and "core.wsgi:application" in dockerfile


def test_github_workflow_runs_ruff_and_tests_against_mysql_and_redis():
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert set(triggers) >= {"push", "pull_request"}
    test_job = workflow["jobs"]["test"]
    assert test_job["services"]["mysql"]["image"].startswith("mysql:8")
    assert test_job["services"]["redis"]["image"].startswith("redis:7")
    steps = yaml.safe_dump(workflow["jobs"])
    assert "ruff check ." in steps
    assert "scripts/test.sh" in steps
    assert "TEST_DATABASE_URL: mysql://" in steps and "REDIS_URL: redis://" in steps


def test_pre_commit_runs_ruff():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format"} <= hooks


def _fake_checkout(tmp_path: Path, test_exit_codes: list[int]) -> Path:
    """A copy of .ci/run beside stand-ins for test.sh, setup-mariadb.sh and ruff."""
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    (repo / "scripts").mkdir()
    (repo / ".venv/bin").mkdir(parents=True)
    shutil.copy(ROOT / ".ci/run", repo / ".ci/run")
    codes = " ".join(str(code) for code in test_exit_codes)
    scripts = {
        "scripts/test.sh": f"""#!/usr/bin/env bash
codes=({codes}); n=$(cat "$0.calls" 2>/dev/null || echo 0); echo $((n+1)) > "$0.calls"
echo "TEST_DATABASE_URL=$TEST_DATABASE_URL REDIS_URL=$REDIS_URL" >> "$0.log"
exit ${{codes[$n]}}
""",
        "scripts/setup-mariadb.sh": "#!/usr/bin/env bash\nexit 0\n",
        ".venv/bin/ruff": "#!/usr/bin/env bash\nexit 0\n",
    }
    for path, body in scripts.items():
        target = repo / path
        target.write_text(body)
        target.chmod(target.stat().st_mode | stat.S_IEXEC)
    return repo


def _run_ci(repo: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        ["bash", str(repo / ".ci/run")], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_ci_runs_tests_twice_sqlite_then_mariadb_and_redis(tmp_path):
    repo = _fake_checkout(tmp_path, [0, 0])
    result = _run_ci(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = (repo / "scripts/test.sh.log").read_text().splitlines()
    assert runs == [
        "TEST_DATABASE_URL= REDIS_URL=",
        "TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo REDIS_URL=redis://127.0.0.1:6379/0",
    ]


@pytest.mark.parametrize("codes", [[1, 0], [0, 1], [5, 0], [0, 5]])
def test_ci_fails_when_either_run_fails_or_collects_no_tests(tmp_path, codes):
    repo = _fake_checkout(tmp_path, codes)
    result = _run_ci(repo)
    assert result.returncode != 0
    assert (repo / "scripts/test.sh.calls").read_text().strip() == "2"  # the other run still happened


def test_ci_fails_when_ruff_fails(tmp_path):
    repo = _fake_checkout(tmp_path, [0, 0])
    (repo / ".venv/bin/ruff").write_text("#!/usr/bin/env bash\nexit 1\n")
    assert _run_ci(repo).returncode != 0

"""Dependencies point one way: core defines interfaces, integrations implement them.

core finds gateways, drivers and the chat client through settings registries; a direct
import of integrations (at module level or inside a function) would tie the domain to a
vendor and is refused here.
"""

import ast
from pathlib import Path

from django.conf import settings

CORE = Path(settings.BASE_DIR) / "core"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "__import__",
            "import_string",  # django.utils.module_loading: a dotted path is an import too
            "async_task",  # django-q2 imports the task function from its dotted path
            "schedule",
        ):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
    return found


def test_core_never_imports_integrations():
    offenders = [
        f"{path.relative_to(settings.BASE_DIR)}:{line} imports {module}"
        for path in sorted(CORE.rglob("*.py"))
        for line, module in _imports(path)
        if module == "integrations" or module.startswith("integrations.")
    ]
    assert offenders == [], "core must reach integrations through settings registries:\n" + "\n".join(offenders)


def test_the_check_sees_function_level_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from integrations.discord.client import DiscordMessage\n")
    assert _imports(sample) == [(2, "integrations.discord.client")]


def test_the_check_sees_dotted_path_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from django.utils.module_loading import import_string\n"
        "from django_q.tasks import async_task\n"
        "def f():\n"
        "    import_string('integrations.payments.sandbox.gateway.SandboxGateway')\n"
        "    async_task('integrations.discord.client.send', 1)\n"
    )
    assert [m for _, m in _imports(sample) if m.startswith("integrations")] == [
        "integrations.payments.sandbox.gateway.SandboxGateway",
        "integrations.discord.client.send",
    ]


def test_the_check_covers_seed_demo_and_the_notifications_path():
    """Issue 13: seed_demo and the Discord notifications are among the files checked, and an integrations
    import added to either would be reported."""
    scanned = {path.relative_to(settings.BASE_DIR).as_posix() for path in CORE.rglob("*.py")}
    for name in ("core/accounts/management/commands/seed_demo.py", "core/notifications/services.py",
                 "core/notifications/chat.py"):  # fmt: skip
        assert name in scanned
    for name in ("core/accounts/management/commands/seed_demo.py", "core/notifications/services.py"):
        source = (Path(settings.BASE_DIR) / name).read_text()
        tampered = source + "\n\ndef _sneaky():\n    from integrations.discord import client  # noqa\n"
        found = _imports_of_text(tampered)
        assert any(m.startswith("integrations") for _, m in found), name


def _imports_of_text(text: str) -> list[tuple[int, str]]:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(text)
    try:
        return _imports(Path(handle.name))
    finally:
        Path(handle.name).unlink()

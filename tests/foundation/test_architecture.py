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

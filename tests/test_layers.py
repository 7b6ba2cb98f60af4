"""Imports run one way (README, Layout): each package may import only those below it, so the
kernel (core) imports no app and no app imports one that builds on it. Migrations are left
out: they name other apps' migrations by design."""

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Bottom first: each may import itself and those before it.
LAYERS = ["core", "audit", "accounts", "tokens_vault", "listings", "orders"]
TOP_LEVEL = {*LAYERS, "marketplace"}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found & TOP_LEVEL


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_those_below_it(package: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    assert (REPO_ROOT / package / "__init__.py").is_file()
    wrong = {
        f"{path.relative_to(REPO_ROOT)} imports {sorted(_imported_packages(path) - allowed)}"
        for path in (REPO_ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and _imported_packages(path) - allowed
    }
    assert wrong == set()

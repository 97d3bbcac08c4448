"""The house rule for route modules (STYLE.md, issue 18 item 7): no SQL in routes, no routes built
inside factory closures.

Route modules that were moved to the case-manager's rooms are listed here; each must stay thin: no
``sqlalchemy`` import, no statement built or run (``select``/``insert``/``update``/``delete``,
``.execute``/``.scalar``/``.scalars``), and a module-level ``router`` rather than a ``router(ctx)``
factory. Their SQL lives in the service's ``flows``/``service`` modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "services"
THIN = [
    *sorted((ROOT / "public-api/src/bk_public/api").glob("[a-z]*.py")),
    ROOT / "ledger/src/bk_ledger/iot/views.py",
    ROOT / "ledger/src/bk_ledger/sites/views.py",
    ROOT / "case-manager/src/bk_cases/notifications/views.py",
]
#: What a route may import from sqlalchemy: the session type it is handed (the case-manager's rooms).
ALLOWED = {"sqlalchemy.ext.asyncio"}
STATEMENTS = {"select", "insert", "update", "delete"}
RUNS = {"execute", "scalar", "scalars"}


def _sql_uses(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
        if module.split(".")[0] == "sqlalchemy" and module not in ALLOWED:
            found.append(f"line {node.lineno}: imports {node.module}")
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names):
            found.append(f"line {node.lineno}: imports sqlalchemy")
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in STATEMENTS:
                found.append(f"line {node.lineno}: builds {f.id}(...)")
            elif isinstance(f, ast.Attribute) and f.attr in RUNS | {"insert"}:
                found.append(f"line {node.lineno}: runs .{f.attr}(...)")
    return found


@pytest.mark.parametrize("path", THIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_route_module_holds_no_sql(path: Path) -> None:
    assert path.exists(), path
    found = _sql_uses(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{path.name} has SQL in its routes (move it to flows/service): {found}"


@pytest.mark.parametrize("path", THIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_route_module_builds_no_router_in_a_closure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    factories = [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "router"
    ]
    module_level = any(
        isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "router" for t in n.targets)
        for n in tree.body
    )
    assert not factories, f"{path.name} builds its routes inside def router(...)"
    assert module_level, f"{path.name} has no module-level router = APIRouter(...)"


def test_the_check_sees_sql_and_closures() -> None:
    """The checks fail on what they forbid (else they could pass with the rule removed)."""
    bad = ast.parse(
        "from sqlalchemy import select\n"
        "async def f(s):\n"
        "    await s.execute(select(t))\n"
        "    await s.scalar(x)\n"
        "    t.insert()\n"
    )
    assert len(_sql_uses(bad)) == 5
    assert _sql_uses(ast.parse("x = 1\nrouter = APIRouter()\n")) == []

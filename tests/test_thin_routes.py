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
LEDGER = ROOT / "ledger/src/bk_ledger"
#: Every ledger room's route module (a new room is covered as soon as it has a views.py).
LEDGER_VIEWS = sorted(LEDGER.glob("*/views.py"))
#: Ledger rooms still built by a ``router(ctx)`` factory, and why. xfail(strict): converting one
#: makes its closure test pass, and then it must leave this list.
FACTORIES = {
    LEDGER / "purchase/views.py": "the upload routes' body cap and OpenAPI form come from settings",
}
THIN = [
    *sorted((ROOT / "public-api/src/bk_public/api").glob("[a-z]*.py")),
    *LEDGER_VIEWS,
    ROOT / "case-manager/src/bk_cases/notifications/views.py",
]
#: What a route may import from sqlalchemy: the session type it is handed (the case-manager's rooms).
ALLOWED = {"sqlalchemy.ext.asyncio"}
STATEMENTS = {"select", "insert", "update", "delete"}
RUNS = {"execute", "scalar", "scalars"}
VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "websocket"}


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


def _routes_in_functions(tree: ast.Module) -> list[str]:
    """Routes declared inside a function body (``@r.get`` on a nested def, ``r.add_api_route``)."""
    found = []
    for outer in ast.walk(tree):
        if not isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(outer):
            if node is not outer and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for d in node.decorator_list:
                    f = d.func if isinstance(d, ast.Call) else d
                    if isinstance(f, ast.Attribute) and f.attr in VERBS:
                        found.append(f"line {node.lineno}: {outer.name}() declares route {node.name}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"add_api_route", "add_api_websocket_route"}
            ):
                found.append(f"line {node.lineno}: {outer.name}() adds a route")
    return found


def _closure_params() -> list[object]:
    return [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=FACTORIES[p])) if p in FACTORIES else p
        for p in THIN
    ]


def test_every_ledger_room_is_checked() -> None:
    rooms = {p.parent.name for p in LEDGER_VIEWS}
    assert {"iot", "sites", "common", "trace", "meal", "staff", "purchase", "recall", "warehouse"} <= rooms
    assert set(FACTORIES) <= set(LEDGER_VIEWS)


@pytest.mark.parametrize("path", _closure_params(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_route_module_builds_no_router_in_a_closure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    factories = [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "router"
    ]
    nested = _routes_in_functions(tree)
    assert not nested, f"{path.name} builds routes inside a function: {nested}"
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
    factory = ast.parse(
        "def make(ctx):\n"
        "    r = APIRouter()\n"
        "    @r.get('/x')\n"
        "    async def x(): ...\n"
        "    r.add_api_route('/y', y)\n"
        "    return r\n"
    )
    assert len(_routes_in_functions(factory)) == 2
    flat = ast.parse("router = APIRouter()\n@router.get('/x')\nasync def x():\n    def inner(): ...\n")
    assert _routes_in_functions(flat) == []

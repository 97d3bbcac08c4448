"""``brightkitchen export``: 数据总仓导出 · export a window of a tenant's data to the warehouse.

Each service writes the data it owns (``POST …/warehouse/exports``): the case-manager its cases,
events, rectifications, verdicts, directory and site scores; the ledger every ledger and the sensor
readings. This command drives both, one day at a time behind a progress bar, and checks that every
day's manifest verified. Connection as for ``brightkitchen admin``: a platform admin of the tenant
(``--username`` and ``BK_ADMIN_PASSWORD`` or a prompt) or ``--token``.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import httpx
import typer
from tqdm import tqdm

from brightkitchen.admin_cli import Api, TokenOption, UserOption, _fail

PATHS = {"cases": "/warehouse/exports", "ledger": "/v1/warehouse/exports"}


def export(
    tenant: str = typer.Option("", "--tenant", help="租户 · the tenant to export (required)."),
    start: str = typer.Option("", "--from", help="首日 · first UTC day, YYYY-MM-DD (required)."),
    end: str = typer.Option("", "--to", help="末日（含）· last UTC day, included (default: --from)."),
    tables: str = typer.Option(
        "", "--tables", help="表 · comma-separated tables (default: all); see --list-tables."
    ),
    list_tables: bool = typer.Option(
        False, "--list-tables", help="列出可导出的表 · list the tables and exit."
    ),
    cases_url: str = typer.Option(
        "http://127.0.0.1:8080/api/cases",
        "--cases-url",
        envvar="BK_ADMIN_URL",
        help="案件服务地址 · case-manager URL.",
    ),
    ledger_url: str = typer.Option(
        "http://127.0.0.1:8080/api/ledger",
        "--ledger-url",
        envvar="BK_LEDGER_URL",
        help="台账服务地址 · ledger URL.",
    ),
    token: str | None = TokenOption,
    username: str | None = UserOption,
) -> None:
    """导出数据总仓（Parquet，按日分区，附清单）· Export to the warehouse (Parquet by day, with manifests)."""
    from bk_cases.warehouse.tables import TABLES as CASE_TABLES  # pyarrow: only when exporting
    from bk_ledger.warehouse.tables import TABLES as LEDGER_TABLES
    from bkcore.warehouse import days

    # Which service owns which tables (the order the command runs them in).
    owners: dict[str, tuple[str, ...]] = {"cases": CASE_TABLES, "ledger": LEDGER_TABLES}
    if list_tables:
        for owner, names in owners.items():
            typer.echo(f"{owner}: {', '.join(names)}")
        return
    if not tenant or not start:
        _fail("需要 --tenant 和 --from · give --tenant and --from")
    try:
        first = date.fromisoformat(start)
        last = date.fromisoformat(end) if end else first
        window = days(first, last)
    except ValueError as exc:
        _fail(f"日期无效 · bad window: {exc}")
    chosen = [t.strip() for t in tables.split(",") if t.strip()]
    unknown = sorted(set(chosen) - {t for names in owners.values() for t in names})
    if unknown:
        _fail(f"未知的表 · unknown tables {unknown}; try --list-tables")
    plan = {
        owner: [t for t in names if t in chosen] if chosen else []
        for owner, names in owners.items()
        if not chosen or set(chosen) & set(names)
    }
    try:
        api = Api(cases_url, token, username, tenant)
    except httpx.HTTPError as exc:
        _fail(f"无法连接 · cannot reach {cases_url}: {exc}")
    clients = {"cases": api.http, "ledger": httpx.Client(base_url=ledger_url.rstrip("/"), timeout=600.0)}
    clients["ledger"].headers["Authorization"] = api.http.headers["Authorization"]
    rows: Counter[str] = Counter()
    files = problems = 0
    try:
        with tqdm(total=len(window) * len(plan), unit="day", desc=f"导出 export {tenant}") as bar:
            for day in window:
                for owner, names in plan.items():
                    body = {
                        "tenant_id": tenant,
                        "start": day.isoformat(),
                        "end": day.isoformat(),
                        "tables": names,
                    }
                    answer = api._ok(clients[owner].post(PATHS[owner], json=body))
                    for m in answer["manifests"]:
                        for f in m["files"]:
                            rows[f["table"]] += f["rows"]
                            files += 1
                    for p in answer["problems"]:
                        tqdm.write(f"校验失败 · does not verify: {p}")
                        problems += 1
                    bar.set_postfix_str(f"{day} {owner}")
                    bar.update()
    except httpx.HTTPError as exc:
        _fail(f"请求失败 · request failed: {exc}")
    finally:
        for c in clients.values():
            c.close()
    for table, n in sorted(rows.items()):
        typer.echo(f"{table:<28} {n:>10} rows")
    typer.echo(
        f"{files} files, {len(window)} days, manifests {'verified' if not problems else 'NOT verified'}"
    )
    if problems:
        raise typer.Exit(1)

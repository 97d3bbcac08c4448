"""Bulk import of sites and users (批量导入): every row checked first, then all written or none.

A row creates the entry, or updates it when its id (sites) or username (users) exists; a blank cell
means "not given" (a new entry gets the default, an existing one keeps its value). A dry run checks
every row exactly as the real run does — the same errors, each naming the file's row and column —
and writes nothing; a real run with any error also writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.admin import flows
from bk_cases.admin.models import ImportReport, RowError, SiteIn, UserIn
from bk_cases.admin.tabular import COLUMNS
from bk_cases.directory import service
from bk_cases.directory.rules import Admin

_LIST_SPLIT = re.compile(r"[;,，；、\s]+")
_TRUE = {"1", "true", "yes", "y", "是", "√"}
_FALSE = {"0", "false", "no", "n", "否", ""}


@dataclass
class _Planned:
    key: str
    plan: Any


async def run(
    session: AsyncSession,
    admin: Admin,
    kind: str,
    rows: Sequence[dict[str, Any]],
    *,
    first_row: int = 2,
    dry_run: bool,
) -> ImportReport:
    """Check every row; write them (one transaction: the caller's) only when none is refused."""
    if kind not in COLUMNS:
        raise flows.Refused(404, f"不支持的导入类型 · unknown import {kind!r}")
    report = ImportReport(kind=kind, dry_run=dry_run, rows=0)
    lookup = flows.Lookup(session, admin.tenant_id)
    key_col = "id" if kind == "sites" else "username"
    keys = [str(r.get(key_col) or "").strip() for r in rows]
    if kind == "sites":
        await lookup.load_sites([k for k in keys if k])
        existing_users: dict[str, Any] = {}
    else:
        existing_users = await service.users_by_username(
            db_session=session, tenant_id=admin.tenant_id, usernames=[k for k in keys if k]
        )
    seen: dict[str, int] = {}
    planned: list[_Planned] = []
    for i, raw in enumerate(rows):
        line = first_row + i
        cells = {k: _text(v) for k, v in raw.items() if k in COLUMNS[kind] and _text(v) != ""}
        if not cells:
            continue  # a blank line
        report.rows += 1
        if unknown := sorted(set(raw) - set(COLUMNS[kind])):
            report.errors.append(RowError(row=line, field=unknown[0], message="未知的列 · unknown column"))
            continue
        key = cells.get(key_col, "")
        if key and key in seen:
            report.errors.append(
                RowError(
                    row=line,
                    field=key_col,
                    message=f"与第 {seen[key]} 行重复 · the same {key_col} as row {seen[key]}",
                )
            )
            continue
        seen[key] = line
        try:
            if kind == "sites":
                item = await _site_row(lookup, admin, cells)
            else:
                item = await _user_row(lookup, admin, cells, existing_users.get(key))
        except _RowErrors as exc:
            report.errors.extend(RowError(row=line, field=f, message=m) for f, m in exc.errors)
            continue
        except flows.Refused as exc:
            report.errors.append(RowError(row=line, field=exc.field, message=exc.message))
            continue
        planned.append(item)
    for item in planned:
        (report.updated if item.plan.existing is not None else report.created).append(item.key)
        if kind == "users" and item.plan.generated:
            report.initial_passwords[item.key] = item.plan.password
    if dry_run or report.errors:
        report.initial_passwords = {}  # nothing was created: no password exists yet
        return report
    for item in planned:
        if kind == "sites":
            await flows.save_site(session, admin, item.key, item.plan)
        else:
            await flows.save_user(session, admin, item.key, item.plan)
    return report


class _RowErrors(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _RowErrors(
            [(str(e["loc"][0]) if e["loc"] else "", e["msg"]) for e in exc.errors(include_url=False)]
        ) from None


async def _site_row(lookup: flows.Lookup, admin: Admin, cells: dict[str, str]) -> _Planned:
    data: dict[str, Any] = {k: v for k, v in cells.items() if k != "zones"}
    if "zones" in cells:
        data["zones"] = [_zone(z) for z in _LIST_SPLIT.split(cells["zones"]) if z]
    body: SiteIn = _validate(SiteIn, data)
    given = body.model_dump(include=set(data))
    existing = lookup.sites.get(body.id)
    values = flows.site_values(existing, given)
    plan = await flows.check_site(lookup, admin, body.id, values, body.zones if "zones" in data else None)
    return _Planned(body.id, plan)


def _zone(text: str) -> dict[str, str]:
    zone, _, name = text.partition(":")
    return {"zone": zone.strip(), "name": name.strip()}


async def _user_row(lookup: flows.Lookup, admin: Admin, cells: dict[str, str], existing: Any) -> _Planned:
    data: dict[str, Any] = dict(cells)
    if "site_ids" in data:
        data["site_ids"] = [s for s in _LIST_SPLIT.split(data["site_ids"]) if s]
    if "bureau_admin" in data:
        flag = data["bureau_admin"].lower()
        if flag not in _TRUE | _FALSE:
            raise _RowErrors([("bureau_admin", "是/否 · write yes or no (是/否)")])
        data["bureau_admin"] = flag in _TRUE
    body: UserIn = _validate(UserIn, data)
    given = body.model_dump(include=set(data) - {"username", "password"})
    values = flows.user_values(existing, given)
    plan = await flows.check_user(lookup, admin, existing, values, body.password)
    return _Planned(body.username, plan)

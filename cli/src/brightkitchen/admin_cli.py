"""``brightkitchen admin …``: 租户、单位、场所、摄像头、用户 · tenants, units, sites, cameras, users.

A client of the case-manager's admin API (the same routes the console uses), so it works the same
against ``brightkitchen up`` and a cluster: ``--url`` (``BK_ADMIN_URL``) and either ``--token``
(``BK_ADMIN_TOKEN``) or a login (``--username``/``BK_ADMIN_USERNAME``, the password from
``BK_ADMIN_PASSWORD`` or a prompt). Every check is the server's; this side reads files and shows
answers.

Imports read CSV (UTF-8 or GB18030) or XLSX with the server's own reader (``bk_cases.admin.tabular``),
check every row on the server first (a dry run: every row's error, nothing written) and, when all
rows pass and ``--dry-run`` is not given, write them in batches behind a progress bar.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer
from tqdm import tqdm

from bk_cases.admin.tabular import KINDS, SheetError, read

app = typer.Typer(
    help="管理 · Administration: tenants, org units, sites, cameras, users; "
    "bulk import (CSV/XLSX) with a dry run.",
    no_args_is_help=True,
)
tenant_app = typer.Typer(
    help="租户 · Tenants (the operator's platform admins open them).", no_args_is_help=True
)
unit_app = typer.Typer(
    help="组织单位 · Org units: city → district/county → township → grid.", no_args_is_help=True
)
site_app = typer.Typer(help="场所 · Sites (kitchens) with their zones.", no_args_is_help=True)
camera_app = typer.Typer(help="摄像头 · Which zone of a site a camera watches.", no_args_is_help=True)
user_app = typer.Typer(
    help="用户 · Staff users: role, unit, sites, phone, WeChat openid.", no_args_is_help=True
)
app.add_typer(tenant_app, name="tenant")
app.add_typer(unit_app, name="unit")
app.add_typer(site_app, name="site")
app.add_typer(camera_app, name="camera")
app.add_typer(user_app, name="user")

#: Rows per request when writing an import (each batch is one transaction on the server).
BATCH = {"sites": 500, "users": 100}  # users: each new one costs a password hash (~50 ms)

UrlOption = typer.Option(
    "http://127.0.0.1:8080/api/cases",
    "--url",
    envvar="BK_ADMIN_URL",
    help="案件服务地址 · the case-manager's URL.",
)
TokenOption = typer.Option(
    None, "--token", envvar="BK_ADMIN_TOKEN", help="访问令牌 · a bearer token (skips the login)."
)
UserOption = typer.Option(
    None, "--username", "-u", envvar="BK_ADMIN_USERNAME", help="登录用户名 · username to log in."
)
TenantOption = typer.Option(
    None, "--tenant", envvar="BK_ADMIN_TENANT", help="登录租户 · tenant of that user."
)


class Api:
    """The admin API, logged in; every answer that is not 2xx ends the command with its message."""

    def __init__(self, url: str, token: str | None, username: str | None, tenant: str | None) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=300.0)
        if not token:
            if not username:
                _fail(
                    "需要 --token 或 --username · give --token or --username "
                    "(or BK_ADMIN_TOKEN / BK_ADMIN_USERNAME)"
                )
            password = os.environ.get("BK_ADMIN_PASSWORD") or typer.prompt("密码 · password", hide_input=True)
            body = {"username": username, "password": password} | ({"tenant_id": tenant} if tenant else {})
            token = self._ok(self.http.post("/auth/login", json=body))["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self._ok(self.http.request(method, path, **kw))

    def _ok(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            _fail(f"{r.status_code}: {_explain(r)}")
        return r.json() if r.content else None


@dataclass(frozen=True)
class Connection:
    url: str
    token: str | None
    username: str | None
    tenant: str | None


@app.callback()
def connect(
    ctx: typer.Context,
    url: str = UrlOption,
    token: str | None = TokenOption,
    username: str | None = UserOption,
    tenant: str | None = TenantOption,
) -> None:
    """管理 · Administration over the case-manager's admin API (connection options come first)."""
    ctx.obj = Connection(url, token, username, tenant)


@contextmanager
def _api(ctx: typer.Context) -> Iterator[Api]:
    c = ctx.find_object(Connection)
    assert c is not None, "the admin group's callback sets the connection"
    url = c.url
    try:
        api = Api(c.url, c.token, c.username, c.tenant)
    except httpx.HTTPError as exc:
        _fail(f"无法连接 · cannot reach {url}: {exc}")
    try:
        yield api
    except httpx.HTTPError as exc:
        _fail(f"请求失败 · request to {url} failed: {exc}")
    finally:
        api.http.close()


def _explain(r: httpx.Response) -> str:
    """The server's words: a field error as 'field: message', one per line."""
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        return r.text[:500]
    if isinstance(detail, list):
        return "\n  ".join(f"{'.'.join(map(str, e.get('loc', [])[1:]))}: {e.get('msg')}" for e in detail)
    if isinstance(detail, dict):
        return f"{detail.get('field') or '-'}: {detail.get('message')}"
    return str(detail)


def _fail(message: str) -> None:
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(1)


def _show(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _list(value: str | None) -> list[str] | None:
    return (
        None
        if value is None
        else [v for v in value.replace("，", ",").replace(";", ",").split(",") if v.strip()]
    )


_CLASS_HELP = (
    "{cls}类问题的通知渠道 · Class {cls} channels, comma separated: wechat, sms, robot ('' for none; "
    "Class I always goes to every channel)"
)
_ROBOT_HELP = "值班群机器人 · the duty group's robot (a name in BK_NOTIFY_ROBOTS)"


def _channels(class_ii: str | None, class_iii: str | None) -> dict[str, list[str]] | None:
    """The per-class choice the options give (None: neither given; the server checks the names)."""
    given = {cls: _list(value) for cls, value in (("II", class_ii), ("III", class_iii)) if value is not None}
    return {cls: value or [] for cls, value in given.items()} or None


# --- tenants --------------------------------------------------------------------------------------


@tenant_app.command("create")
def tenant_create(
    ctx: typer.Context,
    tenant_id: str = typer.Argument(..., help="租户编号 · tenant id, e.g. riverbend"),
    name: str = typer.Option(..., help="名称 · name"),
    admin_username: str = typer.Option(..., help="首位平台管理员 · the first platform admin's username"),
    admin_name: str = typer.Option(..., help="其姓名 · their name"),
    admin_phone: str = typer.Option("", help="其手机 · their phone"),
    timezone: str = typer.Option("Asia/Shanghai", help="时区 · IANA time zone"),
    locale: str = typer.Option("zh-CN", help="语言 · zh-CN or en-US"),
) -> None:
    """开通租户 · Open a tenant with its first platform admin (prints a generated password once)."""
    body = {
        "id": tenant_id,
        "name": name,
        "timezone": timezone,
        "locale": locale,
        "admin": {"username": admin_username, "name": admin_name, "phone": admin_phone},
    }
    with _api(ctx) as api:
        _show(api.call("POST", "/tenants", json=body))


@tenant_app.command("show")
def tenant_show(
    ctx: typer.Context,
    tenant_id: str = typer.Argument(..., help="租户编号 · tenant id"),
) -> None:
    """租户及其分级规则 · The tenant and its grading rules."""
    with _api(ctx) as api:
        _show(api.call("GET", f"/tenants/{tenant_id}"))


@tenant_app.command("grading")
def tenant_grading(
    ctx: typer.Context,
    tenant_id: str = typer.Argument(..., help="租户编号 · tenant id"),
    rules_file: Path = typer.Argument(
        ..., help='JSON: [{"case_type": "no_mask", "risk_class": 2, "deadline_h": 12}]'
    ),
) -> None:
    """替换分级规则 · Replace the tenant's grading of case types (risk class, hours to rectify)."""
    rules = json.loads(rules_file.read_text(encoding="utf-8"))
    with _api(ctx) as api:
        _show(api.call("PUT", f"/tenants/{tenant_id}/grading-rules", json=rules))


# --- units, sites, cameras ------------------------------------------------------------------------


@unit_app.command("add")
def unit_add(
    ctx: typer.Context,
    unit_id: str = typer.Argument(..., help="单位编号 · unit id"),
    name: str = typer.Option(..., help="名称 · name"),
    kind: str = typer.Option(..., help="类型 · city, district, county, township or grid"),
    parent: str | None = typer.Option(None, help="上级单位 · parent unit id (none: the root)"),
) -> None:
    """新增组织单位 · Add an org unit."""
    with _api(ctx) as api:
        _show(
            api.call(
                "POST", "/org-units", json={"id": unit_id, "name": name, "kind": kind, "parent_id": parent}
            )
        )


@unit_app.command("list")
def unit_list(
    ctx: typer.Context,
) -> None:
    """组织单位列表 · Org units you administer."""
    with _api(ctx) as api:
        for u in api.call("GET", "/org-units"):
            typer.echo(f"{u['path']:<40} {u['kind']:<10} {u['name']}")


@site_app.command("add")
def site_add(
    ctx: typer.Context,
    site_id: str = typer.Argument(..., help="场所编号 · site id"),
    name: str = typer.Option(..., help="名称 · name"),
    kind: str = typer.Option(..., help="类型 · school_canteen, kindergarten, restaurant, …"),
    unit: str = typer.Option(..., help="所属单位 · org unit id"),
    address: str = typer.Option("", help="地址 · address"),
    lat: float | None = typer.Option(None, help="纬度 · latitude (WGS-84)"),
    lon: float | None = typer.Option(None, help="经度 · longitude"),
    hours: str = typer.Option("", help="营业时间 · opening hours, e.g. 06:30-19:30"),
    zones: str = typer.Option("", help="功能区 · zones, e.g. prep,cooking,storage"),
) -> None:
    """新增场所 · Add a site with its kitchen zones."""
    body = {
        "id": site_id,
        "name": name,
        "kind": kind,
        "org_id": unit,
        "address": address,
        "latitude": lat,
        "longitude": lon,
        "opening_hours": hours,
        "zones": [{"zone": z.strip()} for z in _list(zones) or []],
    }
    with _api(ctx) as api:
        _show(api.call("POST", "/sites", json=body))


@site_app.command("list")
def site_list(
    ctx: typer.Context,
) -> None:
    """场所列表 · Sites you can see."""
    with _api(ctx) as api:
        for s in api.call("GET", "/sites"):
            typer.echo(f"{s['id']:<24} {s['kind']:<16} {s['org_path']:<32} {s['name']}")


@camera_app.command("bind")
def camera_bind(
    ctx: typer.Context,
    site_id: str = typer.Argument(..., help="场所编号 · site id"),
    camera_id: str = typer.Argument(..., help="摄像头编号 · camera id (as registered in the gateway)"),
    zone: str = typer.Option(..., help="功能区 · zone the camera watches"),
    name: str = typer.Option("", help="名称 · its name in alarms"),
) -> None:
    """绑定摄像头 · Bind a camera to a zone of a site (its stream: the gateway's PUT /v1/cameras)."""
    with _api(ctx) as api:
        _show(api.call("PUT", f"/sites/{site_id}/cameras/{camera_id}", json={"zone": zone, "name": name}))


# --- users ----------------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    new_username: str = typer.Argument(..., help="用户名 · the new user's username"),
    name: str = typer.Option(..., help="姓名 · name"),
    role: str = typer.Option(..., help="角色 · supervisor, site_manager, staff or platform_admin"),
    unit: str | None = typer.Option(None, help="所属单位 · org unit (supervisors)"),
    sites: str | None = typer.Option(None, help="场所 · site ids, comma separated (site staff)"),
    phone: str = typer.Option("", help="手机 · phone (SMS)"),
    openid: str = typer.Option("", help="微信 openid · WeChat openid"),
    department: str = typer.Option("market", help="部门 · market (市场监管) or education (教育)"),
    bureau_admin: bool = typer.Option(False, "--bureau-admin", help="区县管理员 · administers their subtree"),
    class_ii: str | None = typer.Option(None, "--class-ii", help=_CLASS_HELP.format(cls="II")),
    class_iii: str | None = typer.Option(None, "--class-iii", help=_CLASS_HELP.format(cls="III")),
    robot: str = typer.Option("", help=_ROBOT_HELP),
) -> None:
    """新增用户 · Add a user (prints a generated password once)."""
    body = {
        "username": new_username,
        "name": name,
        "role": role,
        "org_id": unit,
        "site_ids": _list(sites) or [],
        "phone": phone,
        "wechat_openid": openid,
        "department": department,
        "bureau_admin": bureau_admin,
        "notify_channels": _channels(class_ii, class_iii) or {},
        "notify_robot": robot,
    }
    with _api(ctx) as api:
        _show(api.call("POST", "/users", json=body))


@user_app.command("channels")
def user_channels(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="用户名 · whose channels"),
    class_ii: str | None = typer.Option(None, "--class-ii", help=_CLASS_HELP.format(cls="II")),
    class_iii: str | None = typer.Option(None, "--class-iii", help=_CLASS_HELP.format(cls="III")),
    robot: str | None = typer.Option(None, help=_ROBOT_HELP + "; '' for none"),
) -> None:
    """通知渠道 · Set a user's phone channels per risk class and duty-group robot (一类问题全渠道)."""
    body: dict[str, Any] = {}
    if (choice := _channels(class_ii, class_iii)) is not None:
        body["notify_channels"] = choice
    if robot is not None:
        body["notify_robot"] = robot
    if not body:
        _fail("无改动 · nothing to change: give --class-ii, --class-iii or --robot")
    with _api(ctx) as api:
        _show(api.call("PATCH", f"/users/{target}", json=body))


@user_app.command("list")
def user_list(
    ctx: typer.Context,
) -> None:
    """用户列表 · Users you administer."""
    with _api(ctx) as api:
        for u in api.call("GET", "/users"):
            state = "" if u["active"] else "  [停用 · deactivated]"
            typer.echo(
                f"{u['username']:<20} {u['role']:<15} {u['org_path']:<32} {u['phone']:<16} {u['name']}{state}"
            )


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="用户名 · whose password"),
) -> None:
    """重置密码 · Reset a user's password to a generated one (printed once)."""
    with _api(ctx) as api:
        _show(api.call("POST", f"/users/{target}/password", json={}))


@user_app.command("deactivate")
def user_deactivate(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="用户名 · whom"),
) -> None:
    """停用用户 · Deactivate a user (login and every service refuse them)."""
    with _api(ctx) as api:
        _show(api.call("POST", f"/users/{target}/deactivate"))


@user_app.command("activate")
def user_activate(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="用户名 · whom"),
) -> None:
    """恢复用户 · Reactivate a user."""
    with _api(ctx) as api:
        _show(api.call("POST", f"/users/{target}/activate"))


# --- import ---------------------------------------------------------------------------------------


@app.command("import")
def import_command(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="sites 或 users · what the file holds"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV (UTF-8/GB18030) 或 XLSX"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只检查 · check every row, write nothing"),
    passwords_out: Path | None = typer.Option(
        None, help="新用户初始密码写入此 CSV · write new users' generated passwords to this CSV (0600)"
    ),
) -> None:
    """批量导入 · Import sites or users from a sheet.

    Every row is checked on the server first; any error lists every refused row (row number in the
    file, column, reason) and nothing is written. Otherwise the rows are written in batches (a row
    whose id or username exists updates it; a blank cell leaves a value as it is).
    """
    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="kind")
    try:
        sheet = read(kind, file.name, file.read_bytes())
    except SheetError as exc:
        _fail(str(exc))
    with _api(ctx) as api:
        checked = api.http.post(
            f"/import/{kind}", json={"rows": sheet.rows, "first_row": sheet.first_row, "dry_run": True}
        )
        report = checked.json() if checked.status_code in (200, 422) else api._ok(checked)
        if report.get("errors"):
            _row_errors(report["errors"])
            n = len(report["errors"])
            _fail(f"{n} 处错误,未写入 · {n} errors in {report['rows']} rows; nothing written")
        new, old = len(report["created"]), len(report["updated"])
        typer.echo(f"检查通过 · checked {report['rows']} rows: {new} new, {old} to update")
        if dry_run:
            return
        passwords: dict[str, str] = {}
        try:
            _write_batches(api, kind, sheet.rows, sheet.first_row, passwords)
        finally:  # also when a batch is refused: the users written before it keep these passwords
            if passwords:
                _save_passwords(passwords, passwords_out)


def _write_batches(
    api: Api, kind: str, rows: list[dict[str, str]], first_row: int, passwords: dict[str, str]
) -> None:
    size = BATCH[kind]
    created = updated = 0
    with tqdm(total=len(rows), unit="row", desc=f"导入 {kind}") as bar:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            r = api.http.post(
                f"/import/{kind}", json={"rows": batch, "first_row": first_row + start, "dry_run": False}
            )
            if r.status_code == 422 and "errors" in r.json():
                _row_errors(r.json()["errors"])
                last = first_row + start + len(batch) - 1
                _fail(
                    f"写入时被拒 · refused while writing rows {first_row + start}–{last} (changed since the "
                    "check?); the rows before them are written: run the import again to finish"
                )
            report = api._ok(r)
            created, updated = created + len(report["created"]), updated + len(report["updated"])
            passwords.update(report.get("initial_passwords") or {})
            bar.update(len(batch))
    typer.echo(f"完成 · done: {created} created, {updated} updated")


def _row_errors(errors: list[dict[str, Any]]) -> None:
    for e in errors:
        row, where = e["row"], e["field"] or "-"
        typer.secho(f"第 {row} 行 · row {row}  {where}: {e['message']}", fg="red", err=True)


def _save_passwords(passwords: dict[str, str], out: Path | None) -> None:
    if out is None:
        typer.echo("新用户初始密码 · initial passwords of new users (shown once):")
        for user, password in passwords.items():
            typer.echo(f"  {user}\t{password}")
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["username", "password"])
        writer.writerows(sorted(passwords.items()))
    typer.echo(f"{len(passwords)} 个初始密码已写入 · initial passwords written to {out}")

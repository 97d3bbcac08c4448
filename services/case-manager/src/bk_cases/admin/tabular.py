"""Reading a CSV or XLSX sheet of sites or users into rows (pure: bytes in, rows out).

The first row is the header; English or Chinese column names (``id`` or ``编号``). Cells come back
as text, the way a person typed them: a phone Excel stored as a number is its digits, an empty cell
is "". The CLI reads files with this module and the console's upload goes through it on the server,
so a sheet reads the same either way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

#: Column names per import kind: the canonical name, then the Chinese names it may be written as.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "sites": {
        "id": ("编号", "场所编号"),
        "name": ("名称", "场所名称"),
        "kind": ("类型", "场所类型"),
        "org_id": ("所属单位", "单位编号"),
        "address": ("地址",),
        "latitude": ("纬度",),
        "longitude": ("经度",),
        "opening_hours": ("营业时间",),
        "zones": ("功能区",),
    },
    "users": {
        "username": ("用户名", "账号"),
        "name": ("姓名",),
        "role": ("角色",),
        "org_id": ("所属单位", "单位编号"),
        "site_ids": ("场所", "场所编号"),
        "phone": ("手机", "手机号"),
        "wechat_openid": ("微信openid", "openid"),
        "department": ("部门",),
        "bureau_admin": ("区县管理员", "管理员"),
        "password": ("初始密码", "密码"),
    },
}
KINDS = tuple(COLUMNS)
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024


class SheetError(ValueError):
    """The file as a whole cannot be read (not CSV/XLSX, no header, unknown columns)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    columns: list[str]  # canonical names, in the file's order
    rows: list[dict[str, str]]  # one per data row, keyed by canonical name
    first_row: int = 2  # the file row of rows[0]


def read(kind: str, filename: str, data: bytes) -> Sheet:
    """Parse ``data`` (CSV in UTF-8 or GB18030, or XLSX) as an import of ``kind``."""
    if kind not in COLUMNS:
        raise SheetError(f"不支持的导入类型 · unknown import {kind!r} (one of {', '.join(KINDS)})")
    if len(data) > MAX_BYTES:
        raise SheetError(f"文件太大 · the file is over {MAX_BYTES // (1024 * 1024)} MiB: split it")
    name = filename.lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        table = _xlsx(data)
    elif name.endswith(".csv") or name.endswith(".txt") or not name:
        table = _csv(data)
    else:
        raise SheetError(f"文件格式不支持 · {filename!r}: upload a .csv or .xlsx file")
    return _sheet(kind, table)


def _csv(data: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetError("无法识别文件编码 · the CSV is neither UTF-8 nor GB18030")
    return [row for row in csv.reader(io.StringIO(text))]


def _xlsx(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # only an import needs it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is no workbook, a broken file: say so, whatever the cause
        raise SheetError(f"无法读取 Excel 文件 · not a readable .xlsx file ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0]
        return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # a phone or an id typed into a number cell
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _sheet(kind: str, table: list[list[str]]) -> Sheet:
    while table and not any(c.strip() for c in table[0]):
        table = table[1:]  # blank lines above the header
    if not table:
        raise SheetError("文件是空的 · the file has no header row")
    columns = header(kind, table[0])
    rows = []
    for cells in table[1:]:
        if not any(c.strip() for c in cells):
            rows.append({})  # kept, so row numbers stay the file's; skipped when checked
            continue
        rows.append(
            {col: (cells[i].strip() if i < len(cells) else "") for i, col in enumerate(columns) if col}
        )
    while rows and not rows[-1]:
        rows.pop()
    if len(rows) > MAX_ROWS:
        raise SheetError(f"行数太多 · {len(rows)} rows: at most {MAX_ROWS} per file")
    return Sheet([c for c in columns if c], rows)


def header(kind: str, names: Iterable[str]) -> list[str]:
    """Canonical column names for a header row; refuses unknown and repeated columns by name."""
    aliases = _aliases(COLUMNS[kind])
    out, unknown = [], []
    for raw in names:
        name = raw.strip()
        key = aliases.get(name.lower()) if name else ""
        if key is None:
            unknown.append(name)
        out.append(key or "")
    if unknown:
        known = ", ".join(COLUMNS[kind])
        raise SheetError(f"未知的列 · unknown columns {', '.join(map(repr, unknown))} (known: {known})")
    named = [c for c in out if c]
    if dup := sorted({c for c in named if named.count(c) > 1}):
        raise SheetError(f"列重复 · columns given twice: {', '.join(dup)}")
    return out


def _aliases(columns: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    out = {}
    for name, chinese in columns.items():
        out[name.lower()] = name
        for alias in chinese:
            out[alias.lower()] = name
    return out

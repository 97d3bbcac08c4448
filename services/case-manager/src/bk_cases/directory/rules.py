"""Pure directory rules: password hashing, walking the org tree by path, and what an entry may hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bk_cases.cases.rules import EDUCATION_KINDS, EDUCATION_SCOPE, LEDGER_SEVERITY_GRADES
from bkcore.auth import Role, in_subtree

# scrypt cost: n=2**14, r=8 → ~16 MiB and a few tens of ms per login; slows guessing, not users.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64); the parameters travel with the hash so they can grow."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def parent_path(path: str) -> str:
    """``/a/b/c`` → ``/a/b``; the root's parent is itself (escalation stops at the top)."""
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head if head else path


def ancestors(path: str) -> list[str]:
    """``/a/b/c`` → ``['/a/b/c', '/a/b', '/a']``: nearest first, for finding the territorial unit."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]


# --- Administration: what a directory entry may hold (one place; API, import and console use it) ---

#: Ids of tenants, org units, sites, zones and cameras: they travel in paths, URLs and object keys.
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ID_RULE = "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit (字母数字开头)"
#: Depth of each org-unit kind: a child sits strictly deeper than its parent (属地管理).
UNIT_LEVELS: dict[str, int] = {"province": 0, "city": 1, "district": 2, "county": 2, "township": 3, "grid": 4}
#: Kinds of supervised kitchen; the education-bureau ones are ``EDUCATION_KINDS``.
SITE_KINDS = EDUCATION_KINDS | {
    "restaurant",
    "central_kitchen",
    "meal_distributor",
    "elder_canteen",
    "unit_canteen",
    "other",
}
DEPARTMENTS = ("market", "education")  # 市场监管 | 教育 (抄告)
LOCALES = ("zh-CN", "en-US")
#: Bureau admins may hand out these roles within their subtree; only platform admins make admins.
SUBTREE_ROLES = (Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF)
STAFF_ROLES = (Role.PLATFORM_ADMIN, *SUBTREE_ROLES)
MIN_PASSWORD = 8
_OPENING_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_CN_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")
_OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class Invalid(ValueError):
    """A value a directory entry may not hold; the message says what is expected (Chinese first)."""


def check_id(value: str) -> str:
    if not ID_RE.match(value or ""):
        raise Invalid(f"编号格式不对 · invalid id {value!r}: {ID_RULE}")
    return value


def check_timezone(value: str) -> str:
    """An IANA zone name (``Asia/Shanghai``): statistics and opening hours are in the tenant's zone."""
    try:
        if not value or value != value.strip():
            raise ZoneInfoNotFoundError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"时区无效 · unknown time zone {value!r} (an IANA name such as Asia/Shanghai)"
        ) from None
    return value


def _one_of(value: str, allowed: Iterable[str], what_zh: str, what_en: str) -> str:
    known = list(allowed)
    if value not in known:
        raise Invalid(f"{what_zh}无效 · unknown {what_en} {value!r} (one of {', '.join(known)})")
    return value


def check_locale(value: str) -> str:
    return _one_of(value, LOCALES, "语言", "locale")


def check_unit_kind(value: str) -> str:
    return _one_of(value, UNIT_LEVELS, "单位类型", "org-unit kind")


def check_child_kind(parent_kind: str, child_kind: str) -> None:
    """A district under a city, a township under a district, a grid under a township or district."""
    if UNIT_LEVELS[child_kind] <= UNIT_LEVELS.get(parent_kind, -1):
        raise Invalid(
            f"层级不对 · a {child_kind!r} cannot sit under a {parent_kind!r} "
            "(city → district/county → township → grid)"
        )


def check_site_kind(value: str) -> str:
    return _one_of(value, sorted(SITE_KINDS), "场所类型", "site kind")


def check_staff_role(value: str) -> str:
    return _one_of(value, STAFF_ROLES, "角色", "role")


def check_zone(value: str) -> str:
    from bk_cases.directory.seed import ZONE_NAMES  # the zones' one list (seed imports this module)

    return _one_of(value, ZONE_NAMES, "功能区", "kitchen zone")


#: A grading rule's alarm severity: "" (any) or one the ledger grades its alerts with.
SEVERITIES = ("", *LEDGER_SEVERITY_GRADES)
#: A grading rule's sites: "" (any), ``education`` (every education-bureau kind) or a site kind.
SITE_SCOPES = ("", EDUCATION_SCOPE, *sorted(SITE_KINDS))


def check_severity(value: str) -> str:
    return _one_of(value, SEVERITIES, "告警级别", "severity")


def check_site_scope(value: str) -> str:
    return _one_of(value, SITE_SCOPES, "适用场所", "site scope")


def check_department(value: str) -> str:
    """market = 市场监管, education = 教育 (receives the copies, 抄告)."""
    return _one_of(value, DEPARTMENTS, "部门", "department")


def check_coordinates(latitude: float | None, longitude: float | None) -> None:
    """Both or neither; WGS-84 degrees in range. (0, 0) is a missing value typed as numbers."""
    if (latitude is None) != (longitude is None):
        raise Invalid("经纬度须成对填写 · give both latitude and longitude, or neither")
    if latitude is None or longitude is None:
        return
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise Invalid(f"经纬度超出范围 · coordinates out of range ({latitude}, {longitude})")
    if latitude == 0 and longitude == 0:
        raise Invalid("经纬度为 0,0 · coordinates (0, 0) are a blank, not a place: leave them empty")


def check_opening_hours(value: str) -> str:
    """``HH:MM-HH:MM`` in local time, end up to ``24:00``; a window past midnight ("22:00-02:00") is
    allowed; empty = not given (the public live view then stays closed)."""
    if value == "":
        return value
    m = _OPENING_RE.match(value)
    if not m:
        raise Invalid(f"营业时间格式不对 · opening hours {value!r}: write HH:MM-HH:MM, e.g. 06:30-19:30")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0) or (h1, m1) == (h2, m2):
        raise Invalid(f"营业时间无效 · opening hours {value!r}: not a time window of the day")
    return value


def normalize_phone(value: str) -> str:
    """A phone that can receive SMS, as E.164: ``13800138000``, ``+86 138-0013-8000`` and
    ``008613800138000`` are all ``+8613800138000``; empty = none."""
    raw = re.sub(r"[\s\-()]", "", value or "")
    if raw == "":
        return ""
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if _CN_MOBILE_RE.match(raw):
        raw = "+86" + raw
    if not _E164_RE.match(raw):
        raise Invalid(f"手机号无效 · phone {value!r}: an 11-digit mainland mobile or +country number (E.164)")
    if raw.startswith("+86") and not _CN_MOBILE_RE.match(raw[3:]):
        raise Invalid(f"手机号无效 · phone {value!r}: +86 numbers must be mobiles (1[3-9] and 11 digits)")
    return raw


def check_openid(value: str) -> str:
    """A WeChat openid of the platform's mini-program (28 characters today; 16–64 accepted)."""
    if value and not _OPENID_RE.match(value):
        raise Invalid(f"微信 openid 无效 · WeChat openid {value!r}: 16–64 letters, digits, '_' or '-'")
    return value


def check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise Invalid(f"密码太短 · password shorter than {MIN_PASSWORD} characters")
    return value


def new_password() -> str:
    """An initial password to hand over once (12 characters without look-alikes)."""
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def child_path(parent_path: str | None, unit_id: str) -> str:
    return f"{parent_path or ''}/{unit_id}"


# --- Who may administer what (bureau admins within their subtree; platform admins in their tenant) ---


@dataclass(frozen=True, slots=True)
class Admin:
    """The caller of an admin route as the directory knows them now (not as their token says)."""

    user_id: str
    tenant_id: str
    role: Role
    org_path: str
    operator: bool = False  # a platform admin of the operator tenant: may create tenants

    @property
    def platform(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN


def may_administer_path(admin: Admin, path: str) -> bool:
    """Units, sites and supervisors at ``path``: a platform admin everywhere in the tenant, a bureau
    admin at or below their own unit."""
    return admin.platform or in_subtree(path, admin.org_path)


def may_manage_user(admin: Admin, *, role: str, org_path: str, site_paths: list[str]) -> bool:
    """A user (as they are, or as a change would make them) is inside the admin's reach.

    Bureau admins manage supervisors in their subtree and site staff whose sites are all in it; never
    platform admins. A site user with no sites is a platform admin's to place.
    """
    if admin.platform:
        return True
    if role not in SUBTREE_ROLES:
        return False
    if role == Role.SUPERVISOR:
        return in_subtree(org_path, admin.org_path)
    return bool(site_paths) and all(in_subtree(p, admin.org_path) for p in site_paths)

"""The directory's rules for what an entry may hold and who may administer it (pure, no I/O)."""

from __future__ import annotations

import pytest

from bk_cases.admin.tabular import SheetError, header, read
from bk_cases.directory import rules
from bk_cases.directory.rules import Admin, Invalid
from bkcore.auth import Role

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("(+852) 9123 4567", "+85291234567"),
        ("", ""),
    ],
)
def test_phones_are_stored_as_e164(typed: str, stored: str) -> None:
    assert rules.normalize_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["12345", "23800138000", "+86 10 1234 5678", "1380013800", "138001380001", "+0123456789", "tel:138"],
)
def test_phones_that_cannot_take_sms_are_refused(typed: str) -> None:
    with pytest.raises(Invalid, match="手机号无效"):
        rules.normalize_phone(typed)


def test_time_zones_locales_and_ids() -> None:
    assert rules.check_timezone("Asia/Urumqi") == "Asia/Urumqi"
    for bad in ("Asia/Beijing", "", " Asia/Shanghai", "../etc/passwd", "UTC+8"):
        with pytest.raises(Invalid, match="时区无效"):
            rules.check_timezone(bad)
    rules.check_locale("zh-CN")
    with pytest.raises(Invalid):
        rules.check_locale("zh")
    for good in ("minghu", "lake-1", "A.b_c", "x" * 64):
        rules.check_id(good)
    for bad in ("", "-x", "a b", "a/b", "x" * 65, "湖滨"):
        with pytest.raises(Invalid, match="编号格式不对"):
            rules.check_id(bad)


@pytest.mark.parametrize("good", ["06:30-19:30", "22:00-02:00", "00:00-24:00", ""])
def test_opening_hours_accepted(good: str) -> None:
    assert rules.check_opening_hours(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "6:30-19:30",
        "06:30",
        "06:30-25:00",
        "24:00-06:00",
        "06:60-07:00",
        "08:00-08:00",
        "24:30-01:00",
        "06:30~19:30",
    ],
)
def test_opening_hours_refused(bad: str) -> None:
    with pytest.raises(Invalid, match="营业时间"):
        rules.check_opening_hours(bad)


def test_coordinates() -> None:
    rules.check_coordinates(None, None)
    rules.check_coordinates(30.27, 120.15)
    for lat, lon in ((30.0, None), (None, 120.0), (91.0, 0.5), (30.0, 181.0), (0.0, 0.0)):
        with pytest.raises(Invalid):
            rules.check_coordinates(lat, lon)


def test_org_tree_levels() -> None:
    rules.check_child_kind("city", "district")
    rules.check_child_kind("district", "township")
    rules.check_child_kind("district", "grid")
    rules.check_child_kind("township", "grid")
    for parent, child in (
        ("township", "district"),
        ("district", "county"),
        ("grid", "grid"),
        ("city", "city"),
    ):
        with pytest.raises(Invalid, match="层级不对"):
            rules.check_child_kind(parent, child)
    assert rules.child_path(None, "minghu") == "/minghu"
    assert rules.child_path("/minghu", "lakeside") == "/minghu/lakeside"


def test_kinds_roles_departments_zones_openids_passwords() -> None:
    assert rules.EDUCATION_KINDS <= rules.SITE_KINDS
    for check, good, bad in (
        (rules.check_site_kind, "central_kitchen", "disco"),
        (rules.check_unit_kind, "county", "village"),
        (rules.check_staff_role, "supervisor", "parent"),
        (rules.check_department, "education", "police"),
        (rules.check_zone, "washing", "roof"),
        (rules.check_openid, "oAbCdEfGhIjKlMnOpQrStUvWxYz1", "o p"),
        (rules.check_password, "long-enough", "short"),
    ):
        check(good)
        with pytest.raises(Invalid):
            check(bad)
    assert rules.check_openid("") == ""
    assert len({rules.new_password() for _ in range(20)}) == 20


PLATFORM = Admin("t:admin", "t", Role.PLATFORM_ADMIN, "/")
LAKESIDE = Admin("t:lake", "t", Role.SUPERVISOR, "/m/lakeside")


def test_reach_of_platform_and_bureau_admins() -> None:
    assert rules.may_administer_path(PLATFORM, "/m/hillview")
    assert rules.may_administer_path(LAKESIDE, "/m/lakeside")
    assert rules.may_administer_path(LAKESIDE, "/m/lakeside/north")
    assert not rules.may_administer_path(LAKESIDE, "/m/lakesidenorth")
    assert not rules.may_administer_path(LAKESIDE, "/m")
    may = rules.may_manage_user
    assert may(PLATFORM, role="platform_admin", org_path="/", site_paths=[])
    assert may(LAKESIDE, role="supervisor", org_path="/m/lakeside/north", site_paths=[])
    assert not may(LAKESIDE, role="supervisor", org_path="/m/hillview", site_paths=[])
    assert not may(LAKESIDE, role="platform_admin", org_path="/m/lakeside", site_paths=[])
    assert may(LAKESIDE, role="site_manager", org_path="/", site_paths=["/m/lakeside/north"])
    assert not may(LAKESIDE, role="staff", org_path="/", site_paths=["/m/lakeside/north", "/m/hillview"])
    assert not may(LAKESIDE, role="staff", org_path="/", site_paths=[])


def test_sheets_read_chinese_headers_gbk_and_refuse_unknown_columns() -> None:
    sheet = read("users", "u.csv", "用户名,手机,\nzhang,13800138000,\n\n,,\nli,,\n".encode("gb18030"))
    assert sheet.columns == ["username", "phone"]
    assert sheet.rows == [
        {"username": "zhang", "phone": "13800138000"},
        {},  # row 3, blank: kept so the rows below keep their numbers
        {},
        {"username": "li", "phone": ""},
    ]
    with pytest.raises(SheetError, match="colour"):
        header("sites", ["id", "colour"])
    with pytest.raises(SheetError, match="twice"):
        header("sites", ["id", "编号"])
    with pytest.raises(SheetError, match="unknown import"):
        read("cases", "x.csv", b"id\n1\n")

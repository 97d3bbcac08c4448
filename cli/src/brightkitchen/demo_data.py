"""The demo tenant that ``brightkitchen up`` seeds: a city, two districts, a township, schools, a
restaurant, and the people of each level — township grid staff, district and city supervisors, the
city's education bureau (抄告) — so the escalation ladder runs on the demo as in a real bureau.

Plain data only; each service seeds its own part through its own seeding function, so the ids
below are the contract between them in the demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TENANT_ID = "minghu"
TENANT_NAME = "明湖市 Minghu City"
TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class OrgUnit:
    id: str
    name: str
    kind: str  # city, district, township
    parent_id: str | None
    path: str  # materialised path, e.g. /minghu/lakeside


@dataclass(frozen=True)
class Camera:
    id: str
    zone: str  # prep, washing, cooking, storage, serving
    name: str
    scenario: str  # bksynth demo scenario name the simulated camera plays


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    kind: str  # school_canteen, kindergarten, restaurant, central_kitchen, ...
    org_id: str
    address: str
    latitude: float
    longitude: float
    opening: str  # local opening hours, e.g. "06:30-19:30"
    cameras: tuple[Camera, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class User:
    username: str
    password: str  # demo only: printed by `brightkitchen up`; never used outside the demo tenant
    role: str
    name: str
    org_id: str | None = None
    site_ids: tuple[str, ...] = ()
    department: str = "market"  # market (市场监管) | education (教育局: reads copies, moves no case)


ORG_UNITS = (
    OrgUnit("minghu", "明湖市市场监管局", "city", None, "/minghu"),
    OrgUnit("lakeside", "湖滨区", "district", "minghu", "/minghu/lakeside"),
    OrgUnit("hillview", "山景区", "district", "minghu", "/minghu/hillview"),
    OrgUnit("lakeside-north", "湖北街道", "township", "lakeside", "/minghu/lakeside/north"),
)


def _cams(site: str, zones: tuple[tuple[str, str, str], ...]) -> tuple[Camera, ...]:
    return tuple(Camera(f"{site}-{zone}", zone, name, scenario) for zone, name, scenario in zones)


SITES = (
    Site(
        "lakeside-primary",
        "湖滨第一小学食堂",
        "school_canteen",
        "lakeside-north",
        "湖滨路 18 号",
        30.2741,
        120.1551,
        "06:30-19:30",
        _cams(
            "lakeside-primary",
            (("prep", "切配区", "prep"), ("cooking", "烹饪区", "cooking"), ("storage", "仓库", "storage")),
        ),
    ),
    Site(
        "lakeside-kinder",
        "湖滨实验幼儿园厨房",
        "kindergarten",
        "lakeside-north",
        "湖滨路 52 号",
        30.2763,
        120.1602,
        "07:00-18:00",
        _cams("lakeside-kinder", (("washing", "洗消区", "washing"), ("serving", "备餐间", "serving"))),
    ),
    Site(
        "hillview-middle",
        "山景中学食堂",
        "school_canteen",
        "hillview",
        "山景大道 7 号",
        30.2405,
        120.1198,
        "06:00-20:00",
        _cams("hillview-middle", (("prep", "切配区", "prep"), ("cooking", "烹饪区", "cooking"))),
    ),
    Site(
        "hillview-noodle",
        "山景老字号面馆",
        "restaurant",
        "hillview",
        "山景大道 120 号",
        30.2388,
        120.1250,
        "10:00-22:00",
        _cams("hillview-noodle", (("cooking", "后厨", "cooking"),)),
    ),
)

USERS = (
    User("admin", "demo-admin", "platform_admin", "平台管理员"),
    User("city", "demo-city", "supervisor", "市局监管员 王科长", org_id="minghu"),
    User("lakeside", "demo-lakeside", "supervisor", "湖滨区监管员 李明", org_id="lakeside"),
    User("hillview", "demo-hillview", "supervisor", "山景区监管员 周敏", org_id="hillview"),
    # The township (街道) level: the first to hold its sites' cases; red cards go past it to the district.
    User("north", "demo-north", "supervisor", "湖北街道网格员 赵磊", org_id="lakeside-north"),
    User("edu", "demo-edu", "supervisor", "市教育局后勤处 孙丽", org_id="minghu", department="education"),
    User(
        "manager", "demo-manager", "site_manager", "湖滨一小食堂负责人 张芳", site_ids=("lakeside-primary",)
    ),
    User("staff", "demo-staff", "staff", "湖滨一小厨师 陈强", site_ids=("lakeside-primary",)),
    User("noodleboss", "demo-noodleboss", "site_manager", "山景面馆店长 吴刚", site_ids=("hillview-noodle",)),
    User("parent", "demo-parent", "parent", "家长 刘女士"),
)

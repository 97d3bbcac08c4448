"""Test tenants shaped like ``brightkitchen.demo_data`` (duck-typed), plus a second tenant.

Self-contained so the service's tests do not depend on the CLI package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace


@dataclass(frozen=True)
class OrgUnit:
    id: str
    name: str
    kind: str
    parent_id: str | None
    path: str


@dataclass(frozen=True)
class Camera:
    id: str
    zone: str
    name: str
    scenario: str = ""


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    kind: str
    org_id: str
    address: str
    latitude: float
    longitude: float
    opening: str
    cameras: tuple[Camera, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class User:
    username: str
    password: str
    role: str
    name: str
    org_id: str | None = None
    site_ids: tuple[str, ...] = ()
    department: str = "market"


def _user(
    username: str, role: str, org: str | None = None, sites: tuple[str, ...] = (), department: str = "market"
) -> User:
    return User(username, f"demo-{username}", role, username, org, sites, department)


DEMO = SimpleNamespace(
    TENANT_ID="minghu",
    TENANT_NAME="明湖市",
    TIMEZONE="Asia/Shanghai",
    ORG_UNITS=(
        OrgUnit("minghu", "明湖市", "city", None, "/minghu"),
        OrgUnit("lakeside", "湖滨区", "district", "minghu", "/minghu/lakeside"),
        OrgUnit("hillview", "山景区", "district", "minghu", "/minghu/hillview"),
        OrgUnit("lakeside-north", "湖北街道", "township", "lakeside", "/minghu/lakeside/north"),
    ),
    SITES=(
        Site(
            "lakeside-primary",
            "湖滨第一小学食堂",
            "school_canteen",
            "lakeside-north",
            "湖滨路 18 号",
            30.27,
            120.15,
            "06:30-19:30",
            (
                Camera("lakeside-primary-prep", "prep", "切配区"),
                Camera("lakeside-primary-cooking", "cooking", "烹饪区"),
            ),
        ),
        Site(
            "hillview-noodle",
            "山景老字号面馆",
            "restaurant",
            "hillview",
            "山景大道 120 号",
            30.23,
            120.12,
            "10:00-22:00",
            (Camera("hillview-noodle-cooking", "cooking", "后厨"),),
        ),
    ),
    USERS=(
        _user("admin", "platform_admin"),
        _user("city", "supervisor", "minghu"),
        _user("lakeside", "supervisor", "lakeside"),
        _user("north", "supervisor", "lakeside-north"),
        _user("hillview", "supervisor", "hillview"),
        _user("edu", "supervisor", "lakeside", department="education"),
        _user("manager", "site_manager", sites=("lakeside-primary",)),
        _user("staff", "staff", sites=("lakeside-primary",)),
        _user("noodleboss", "site_manager", sites=("hillview-noodle",)),
    ),
)

OTHER = SimpleNamespace(
    TENANT_ID="riverton",
    TENANT_NAME="Riverton",
    ORG_UNITS=(OrgUnit("riverton", "Riverton", "city", None, "/riverton"),),
    SITES=(
        Site(
            "river-school",
            "River School",
            "school_canteen",
            "riverton",
            "1 River Rd",
            30.0,
            120.0,
            "07:00-18:00",
        ),
    ),
    USERS=(
        _user("r-admin", "platform_admin"),
        _user("r-city", "supervisor", "riverton"),
        _user("r-manager", "site_manager", sites=("river-school",)),
    ),
)

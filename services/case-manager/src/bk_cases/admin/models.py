"""API shapes of administration. Every value is checked by ``bk_cases.directory.rules`` (one owner per
rule): the routes, the CSV/XLSX import and the console get the same errors, each naming its field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from bk_cases.directory import rules
from bk_cases.notifications.models import ChannelChoice, RobotName
from bk_cases.notifications.rules import check_choice


def _rule(check: Callable[[Any], Any]) -> AfterValidator:
    """A directory rule as a pydantic validator; its message is the error, without "Value error, "."""

    def run(value: Any) -> Any:
        try:
            out = check(value)
        except rules.Invalid as exc:
            raise PydanticCustomError("directory_rule", "{message}", {"message": str(exc)}) from None
        return value if out is None else out

    return AfterValidator(run)


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("directory_rule", "{message}", {"message": message})


def _choice(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """A person's channel choice per risk class (the notifications' own rule)."""
    try:
        return check_choice(value)
    except ValueError as exc:
        raise _invalid(str(exc)) from None


Id = Annotated[str, Field(max_length=64), _rule(rules.check_id)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Timezone = Annotated[str, Field(max_length=64), _rule(rules.check_timezone)]
Locale = Annotated[str, Field(max_length=16), _rule(rules.check_locale)]
UnitKind = Annotated[str, Field(max_length=32), _rule(rules.check_unit_kind)]
SiteKind = Annotated[str, Field(max_length=32), _rule(rules.check_site_kind)]
Department = Annotated[str, Field(max_length=32), _rule(rules.check_department)]
Opening = Annotated[str, Field(max_length=64), _rule(rules.check_opening_hours)]
Phone = Annotated[str, Field(max_length=32), _rule(rules.normalize_phone)]
OpenId = Annotated[str, Field(max_length=64), _rule(rules.check_openid)]
Password = Annotated[str, Field(max_length=256), _rule(rules.check_password)]
StaffRole = Annotated[str, Field(max_length=32), _rule(rules.check_staff_role)]
Zone = Annotated[str, Field(max_length=32), _rule(rules.check_zone)]
# The schema lists their values (clients and the fuzzing see them); the rule words the refusal.
Severity = Annotated[
    str, Field(max_length=16, json_schema_extra={"enum": list(rules.SEVERITIES)}), _rule(rules.check_severity)
]
SiteScope = Annotated[
    str,
    Field(max_length=32, json_schema_extra={"enum": list(rules.SITE_SCOPES)}),
    _rule(rules.check_site_scope),
]
CloseDays = Annotated[
    float, Field(gt=0, le=365, description="Class III cases close after this many quiet days")
]
NotifyChannels = Annotated[ChannelChoice, AfterValidator(_choice)]
Latitude = Annotated[float | None, Field(ge=-90, le=90)]
Longitude = Annotated[float | None, Field(ge=-180, le=180)]


def _coordinates(latitude: float | None, longitude: float | None) -> None:
    try:
        rules.check_coordinates(latitude, longitude)
    except rules.Invalid as exc:
        raise _invalid(str(exc)) from None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- tenants ---------------------------------------------------------------------------------------


class GradingRule(_In):
    """A tenant's grading of one case type (分级): risk class and hours to rectify (none: Class III),
    narrowed by the alarm's severity and the site's kind (``bk_cases.cases.rules.GradingRule``)."""

    case_type: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.:-]*$")]
    risk_class: int = Field(ge=1, le=3)
    deadline_h: float | None = Field(None, gt=0, le=24 * 365)
    severity: Severity = Field("", description="the ledger alert's severity (warning, alarm); empty: any")
    site_scope: SiteScope = Field(
        "", description="a site kind, or education (every school kind); empty: every site"
    )

    @model_validator(mode="after")
    def _class_iii_has_no_deadline(self) -> GradingRule:
        if self.risk_class == 3 and self.deadline_h is not None:
            raise _invalid("三类问题不设整改期限 · Class III cases have no deadline: leave deadline_h empty")
        return self


class FirstAdmin(_In):
    username: Id
    name: Name
    password: Password | None = Field(None, description="empty: one is generated and returned once")
    phone: Phone = ""


class TenantIn(_In):
    id: Id
    name: Name
    timezone: Timezone = "Asia/Shanghai"
    locale: Locale = "zh-CN"
    admin: FirstAdmin = Field(description="the tenant's first platform admin (平台管理员)")


class TenantPatch(_In):
    name: Name | None = None
    timezone: Timezone | None = None
    locale: Locale | None = None
    class_iii_close_days: CloseDays | None = None


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    timezone: str
    locale: str
    class_iii_close_days: float
    grading_rules: list[GradingRule] = []


class TenantCreated(TenantRead):
    admin_username: str
    initial_password: str | None = None


# --- org units ------------------------------------------------------------------------------------


class OrgUnitIn(_In):
    id: Id
    name: Name
    kind: UnitKind
    parent_id: Id | None = Field(None, description="empty only for the tenant's root unit (platform admin)")


class OrgUnitPatch(_In):
    name: Name | None = None
    kind: UnitKind | None = None


# --- sites ----------------------------------------------------------------------------------------


class ZoneIn(_In):
    zone: Zone
    name: str = Field("", max_length=200, description="empty: the zone's Chinese name (切配区 …)")


class SiteIn(_In):
    id: Id
    name: Name
    kind: SiteKind
    org_id: Id
    address: str = Field("", max_length=300)
    latitude: Latitude = None
    longitude: Longitude = None
    opening_hours: Opening = ""
    zones: list[ZoneIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _whole(self) -> SiteIn:
        _coordinates(self.latitude, self.longitude)
        _unique_zones(self.zones)
        return self


class SitePatch(_In):
    name: Name | None = None
    kind: SiteKind | None = None
    org_id: Id | None = Field(None, description="another unit: the site moves (its supervisors change)")
    address: str | None = Field(None, max_length=300)
    latitude: Latitude = None
    longitude: Longitude = None
    opening_hours: Opening | None = None
    zones: list[ZoneIn] | None = Field(None, max_length=20)

    @model_validator(mode="after")
    def _whole(self) -> SitePatch:
        if "latitude" in self.model_fields_set or "longitude" in self.model_fields_set:
            _coordinates(self.latitude, self.longitude)
        _unique_zones(self.zones or [])
        return self


def _unique_zones(zones: list[ZoneIn]) -> None:
    seen = [z.zone for z in zones]
    if len(seen) != len(set(seen)):
        raise _invalid("功能区重复 · a zone is listed twice")


class CameraBindingIn(_In):
    """Which zone of the site a camera watches, and its name in alarms (the stream itself is the
    gateway's: PUT /v1/cameras/{id})."""

    zone: Zone
    name: str = Field("", max_length=200)


# --- users ----------------------------------------------------------------------------------------


class UserIn(_In):
    username: Id
    name: Name
    role: StaffRole
    org_id: Id | None = Field(None, description="supervisors: their unit (they see its subtree)")
    site_ids: list[Id] = Field(default_factory=list, max_length=500, description="site staff: their sites")
    phone: Phone = ""
    wechat_openid: OpenId = ""
    department: Department = "market"
    bureau_admin: bool = Field(False, description="a supervisor who administers their subtree (区县管理员)")
    notify_channels: NotifyChannels = Field(
        default_factory=dict,
        description='phone channels per risk class, e.g. {"II": ["wechat", "sms"], "III": []}; '
        "empty: the default (Class I always goes to every channel)",
    )
    notify_robot: RobotName = Field("", description="the duty group's robot (a name in BK_NOTIFY_ROBOTS)")
    password: Password | None = Field(None, description="empty: one is generated and returned once")


class UserPatch(_In):
    name: Name | None = None
    role: StaffRole | None = None
    org_id: Id | None = None
    site_ids: list[Id] | None = Field(None, max_length=500)
    phone: Phone | None = None
    wechat_openid: OpenId | None = None
    department: Department | None = None
    bureau_admin: bool | None = None
    notify_channels: NotifyChannels | None = None
    notify_robot: RobotName | None = Field(None, description="'': no duty-group robot")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    username: str
    name: str
    role: str
    department: str
    org_id: str | None
    org_path: str
    site_ids: list[str]
    phone: str
    wechat_openid: str
    bureau_admin: bool
    notify_channels: dict[str, list[str]]
    notify_robot: str
    active: bool
    created_at: datetime | None


class UserCreated(UserRead):
    initial_password: str | None = None


class PasswordReset(_In):
    password: Password | None = Field(None, description="empty: one is generated and returned once")


class PasswordOut(BaseModel):
    user_id: str
    password: str | None = Field(None, description="the generated password (shown once), if none was given")


# --- import ---------------------------------------------------------------------------------------


class RowError(BaseModel):
    row: int = Field(description="the row in the file (the header is row 1)")
    field: str = Field(description="the column, or '' for the row as a whole")
    message: str


class ImportReport(BaseModel):
    kind: str
    dry_run: bool
    rows: int
    created: list[str] = []
    updated: list[str] = []
    errors: list[RowError] = []
    initial_passwords: dict[str, str] = Field(
        default_factory=dict, description="username → generated password, for new users without one"
    )

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRows(BaseModel):
    """Rows already read from a file (the CLI reads CSV/XLSX with ``bk_cases.admin.tabular``)."""

    rows: list[dict[str, Any]] = Field(max_length=20_000)
    first_row: int = Field(
        2, ge=1, le=1_048_576, description="the file row of rows[0] (default: after the header; XLSX's last)"
    )
    dry_run: bool = False

from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DirectoryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTORY_KIND_UNSPECIFIED: _ClassVar[DirectoryKind]
    DIRECTORY_KIND_TENANT: _ClassVar[DirectoryKind]
    DIRECTORY_KIND_ORG_UNIT: _ClassVar[DirectoryKind]
    DIRECTORY_KIND_SITE: _ClassVar[DirectoryKind]
    DIRECTORY_KIND_USER: _ClassVar[DirectoryKind]
    DIRECTORY_KIND_CAMERA: _ClassVar[DirectoryKind]
DIRECTORY_KIND_UNSPECIFIED: DirectoryKind
DIRECTORY_KIND_TENANT: DirectoryKind
DIRECTORY_KIND_ORG_UNIT: DirectoryKind
DIRECTORY_KIND_SITE: DirectoryKind
DIRECTORY_KIND_USER: DirectoryKind
DIRECTORY_KIND_CAMERA: DirectoryKind

class TenantState(_message.Message):
    __slots__ = ("name", "timezone")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    timezone: str
    def __init__(self, name: _Optional[str] = ..., timezone: _Optional[str] = ...) -> None: ...

class OrgUnitState(_message.Message):
    __slots__ = ("name", "kind", "parent_id", "path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    parent_id: str
    path: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., parent_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class ZoneState(_message.Message):
    __slots__ = ("zone", "name")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    zone: str
    name: str
    def __init__(self, zone: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SiteState(_message.Message):
    __slots__ = ("name", "kind", "org_id", "org_path", "address", "latitude", "longitude", "has_coordinates", "opening_hours", "timezone", "zones")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_PATH_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    HAS_COORDINATES_FIELD_NUMBER: _ClassVar[int]
    OPENING_HOURS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    org_id: str
    org_path: str
    address: str
    latitude: float
    longitude: float
    has_coordinates: bool
    opening_hours: str
    timezone: str
    zones: _containers.RepeatedCompositeFieldContainer[ZoneState]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., org_id: _Optional[str] = ..., org_path: _Optional[str] = ..., address: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., has_coordinates: _Optional[bool] = ..., opening_hours: _Optional[str] = ..., timezone: _Optional[str] = ..., zones: _Optional[_Iterable[_Union[ZoneState, _Mapping]]] = ...) -> None: ...

class CameraBindingState(_message.Message):
    __slots__ = ("site_id", "zone", "name")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    zone: str
    name: str
    def __init__(self, site_id: _Optional[str] = ..., zone: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class UserState(_message.Message):
    __slots__ = ("username", "role", "name", "department", "org_id", "org_path", "site_ids", "active")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_PATH_FIELD_NUMBER: _ClassVar[int]
    SITE_IDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    username: str
    role: str
    name: str
    department: str
    org_id: str
    org_path: str
    site_ids: _containers.RepeatedScalarFieldContainer[str]
    active: bool
    def __init__(self, username: _Optional[str] = ..., role: _Optional[str] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., org_id: _Optional[str] = ..., org_path: _Optional[str] = ..., site_ids: _Optional[_Iterable[str]] = ..., active: _Optional[bool] = ...) -> None: ...

class DirectoryChanged(_message.Message):
    __slots__ = ("meta", "kind", "entity_id", "version", "deleted", "snapshot", "tenant", "org_unit", "site", "user", "camera")
    META_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ORG_UNIT_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    kind: DirectoryKind
    entity_id: str
    version: int
    deleted: bool
    snapshot: bool
    tenant: TenantState
    org_unit: OrgUnitState
    site: SiteState
    user: UserState
    camera: CameraBindingState
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., kind: _Optional[_Union[DirectoryKind, str]] = ..., entity_id: _Optional[str] = ..., version: _Optional[int] = ..., deleted: _Optional[bool] = ..., snapshot: _Optional[bool] = ..., tenant: _Optional[_Union[TenantState, _Mapping]] = ..., org_unit: _Optional[_Union[OrgUnitState, _Mapping]] = ..., site: _Optional[_Union[SiteState, _Mapping]] = ..., user: _Optional[_Union[UserState, _Mapping]] = ..., camera: _Optional[_Union[CameraBindingState, _Mapping]] = ...) -> None: ...

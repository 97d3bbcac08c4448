import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CameraState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMERA_STATE_UNSPECIFIED: _ClassVar[CameraState]
    CAMERA_STATE_CONNECTING: _ClassVar[CameraState]
    CAMERA_STATE_ONLINE: _ClassVar[CameraState]
    CAMERA_STATE_DEGRADED: _ClassVar[CameraState]
    CAMERA_STATE_OFFLINE: _ClassVar[CameraState]
    CAMERA_STATE_DISABLED: _ClassVar[CameraState]

class CameraAlarm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMERA_ALARM_NONE: _ClassVar[CameraAlarm]
    CAMERA_ALARM_OFFLINE: _ClassVar[CameraAlarm]
    CAMERA_ALARM_FROZEN: _ClassVar[CameraAlarm]
    CAMERA_ALARM_COVERED: _ClassVar[CameraAlarm]
    CAMERA_ALARM_PROFILE_REFUSED: _ClassVar[CameraAlarm]
CAMERA_STATE_UNSPECIFIED: CameraState
CAMERA_STATE_CONNECTING: CameraState
CAMERA_STATE_ONLINE: CameraState
CAMERA_STATE_DEGRADED: CameraState
CAMERA_STATE_OFFLINE: CameraState
CAMERA_STATE_DISABLED: CameraState
CAMERA_ALARM_NONE: CameraAlarm
CAMERA_ALARM_OFFLINE: CameraAlarm
CAMERA_ALARM_FROZEN: CameraAlarm
CAMERA_ALARM_COVERED: CameraAlarm
CAMERA_ALARM_PROFILE_REFUSED: CameraAlarm

class CameraStatusChanged(_message.Message):
    __slots__ = ("meta", "site_id", "camera_id", "zone", "state", "previous_state", "alarm", "alarm_active", "reason", "since", "fps", "codec", "width", "height", "reconnects", "gateway_id")
    META_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    ALARM_FIELD_NUMBER: _ClassVar[int]
    ALARM_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    site_id: str
    camera_id: str
    zone: str
    state: CameraState
    previous_state: CameraState
    alarm: CameraAlarm
    alarm_active: bool
    reason: str
    since: _timestamp_pb2.Timestamp
    fps: float
    codec: str
    width: int
    height: int
    reconnects: int
    gateway_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., site_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., zone: _Optional[str] = ..., state: _Optional[_Union[CameraState, str]] = ..., previous_state: _Optional[_Union[CameraState, str]] = ..., alarm: _Optional[_Union[CameraAlarm, str]] = ..., alarm_active: _Optional[bool] = ..., reason: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fps: _Optional[float] = ..., codec: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., reconnects: _Optional[int] = ..., gateway_id: _Optional[str] = ...) -> None: ...

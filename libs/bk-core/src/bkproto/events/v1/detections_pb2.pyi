import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ViolationPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIOLATION_PHASE_UNSPECIFIED: _ClassVar[ViolationPhase]
    VIOLATION_PHASE_STARTED: _ClassVar[ViolationPhase]
    VIOLATION_PHASE_UPDATED: _ClassVar[ViolationPhase]
    VIOLATION_PHASE_ENDED: _ClassVar[ViolationPhase]
VIOLATION_PHASE_UNSPECIFIED: ViolationPhase
VIOLATION_PHASE_STARTED: ViolationPhase
VIOLATION_PHASE_UPDATED: ViolationPhase
VIOLATION_PHASE_ENDED: ViolationPhase

class ViolationDetected(_message.Message):
    __slots__ = ("meta", "violation_id", "phase", "violation_type", "site_id", "camera_id", "zone", "track_id", "score", "box", "started_at", "ended_at", "raw_snapshot_key", "annotated_snapshot_key", "model_version", "observations")
    META_FIELD_NUMBER: _ClassVar[int]
    VIOLATION_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    VIOLATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    RAW_SNAPSHOT_KEY_FIELD_NUMBER: _ClassVar[int]
    ANNOTATED_SNAPSHOT_KEY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    violation_id: str
    phase: ViolationPhase
    violation_type: str
    site_id: str
    camera_id: str
    zone: str
    track_id: int
    score: float
    box: _meta_pb2.BBox
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    raw_snapshot_key: str
    annotated_snapshot_key: str
    model_version: str
    observations: int
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., violation_id: _Optional[str] = ..., phase: _Optional[_Union[ViolationPhase, str]] = ..., violation_type: _Optional[str] = ..., site_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., zone: _Optional[str] = ..., track_id: _Optional[int] = ..., score: _Optional[float] = ..., box: _Optional[_Union[_meta_pb2.BBox, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., raw_snapshot_key: _Optional[str] = ..., annotated_snapshot_key: _Optional[str] = ..., model_version: _Optional[str] = ..., observations: _Optional[int] = ...) -> None: ...

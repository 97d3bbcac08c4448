import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ViolationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIOLATION_TYPE_UNSPECIFIED: _ClassVar[ViolationType]
    VIOLATION_TYPE_NO_CHEF_HAT: _ClassVar[ViolationType]
    VIOLATION_TYPE_NO_MASK: _ClassVar[ViolationType]
    VIOLATION_TYPE_NO_UNIFORM: _ClassVar[ViolationType]
    VIOLATION_TYPE_NO_GLOVES: _ClassVar[ViolationType]
    VIOLATION_TYPE_PHONE_USE: _ClassVar[ViolationType]
    VIOLATION_TYPE_SMOKING: _ClassVar[ViolationType]
    VIOLATION_TYPE_RODENT: _ClassVar[ViolationType]
    VIOLATION_TYPE_TRASH_BIN_OPEN: _ClassVar[ViolationType]
    VIOLATION_TYPE_FIRE_UNATTENDED: _ClassVar[ViolationType]
VIOLATION_TYPE_UNSPECIFIED: ViolationType
VIOLATION_TYPE_NO_CHEF_HAT: ViolationType
VIOLATION_TYPE_NO_MASK: ViolationType
VIOLATION_TYPE_NO_UNIFORM: ViolationType
VIOLATION_TYPE_NO_GLOVES: ViolationType
VIOLATION_TYPE_PHONE_USE: ViolationType
VIOLATION_TYPE_SMOKING: ViolationType
VIOLATION_TYPE_RODENT: ViolationType
VIOLATION_TYPE_TRASH_BIN_OPEN: ViolationType
VIOLATION_TYPE_FIRE_UNATTENDED: ViolationType

class Polygon(_message.Message):
    __slots__ = ("xy",)
    XY_FIELD_NUMBER: _ClassVar[int]
    xy: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, xy: _Optional[_Iterable[float]] = ...) -> None: ...

class ScheduleWindow(_message.Message):
    __slots__ = ("weekdays", "start_minute", "end_minute")
    WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    START_MINUTE_FIELD_NUMBER: _ClassVar[int]
    END_MINUTE_FIELD_NUMBER: _ClassVar[int]
    weekdays: _containers.RepeatedScalarFieldContainer[int]
    start_minute: int
    end_minute: int
    def __init__(self, weekdays: _Optional[_Iterable[int]] = ..., start_minute: _Optional[int] = ..., end_minute: _Optional[int] = ...) -> None: ...

class RuleConfig(_message.Message):
    __slots__ = ("violation_type", "enabled", "min_score", "zones", "schedule")
    VIOLATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    violation_type: str
    enabled: bool
    min_score: float
    zones: _containers.RepeatedCompositeFieldContainer[Polygon]
    schedule: _containers.RepeatedCompositeFieldContainer[ScheduleWindow]
    def __init__(self, violation_type: _Optional[str] = ..., enabled: _Optional[bool] = ..., min_score: _Optional[float] = ..., zones: _Optional[_Iterable[_Union[Polygon, _Mapping]]] = ..., schedule: _Optional[_Iterable[_Union[ScheduleWindow, _Mapping]]] = ...) -> None: ...

class CameraProfile(_message.Message):
    __slots__ = ("tenant_id", "site_id", "camera_id", "zone", "rules_version", "masks", "rules", "timezone")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    MASKS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    site_id: str
    camera_id: str
    zone: str
    rules_version: int
    masks: _containers.RepeatedCompositeFieldContainer[Polygon]
    rules: _containers.RepeatedCompositeFieldContainer[RuleConfig]
    timezone: str
    def __init__(self, tenant_id: _Optional[str] = ..., site_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., zone: _Optional[str] = ..., rules_version: _Optional[int] = ..., masks: _Optional[_Iterable[_Union[Polygon, _Mapping]]] = ..., rules: _Optional[_Iterable[_Union[RuleConfig, _Mapping]]] = ..., timezone: _Optional[str] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("frame_id", "tenant_id", "site_id", "camera_id", "captured_at", "jpeg", "rules_version")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    tenant_id: str
    site_id: str
    camera_id: str
    captured_at: _timestamp_pb2.Timestamp
    jpeg: bytes
    rules_version: int
    def __init__(self, frame_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., site_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., jpeg: _Optional[bytes] = ..., rules_version: _Optional[int] = ...) -> None: ...

class FrameBatch(_message.Message):
    __slots__ = ("batch_id", "frames", "profiles")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    profiles: _containers.RepeatedCompositeFieldContainer[CameraProfile]
    def __init__(self, batch_id: _Optional[str] = ..., frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ..., profiles: _Optional[_Iterable[_Union[CameraProfile, _Mapping]]] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("label", "score", "box", "track_id", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    box: _meta_pb2.BBox
    track_id: int
    attributes: _containers.ScalarMap[str, float]
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ..., box: _Optional[_Union[_meta_pb2.BBox, _Mapping]] = ..., track_id: _Optional[int] = ..., attributes: _Optional[_Mapping[str, float]] = ...) -> None: ...

class FrameResult(_message.Message):
    __slots__ = ("frame_id", "camera_id", "detections", "violations", "error")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    camera_id: str
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    violations: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, frame_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., violations: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...

class ProfileRefusal(_message.Message):
    __slots__ = ("tenant_id", "camera_id", "rules_version", "reason")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    camera_id: str
    rules_version: int
    reason: str
    def __init__(self, tenant_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., rules_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DetectionBatch(_message.Message):
    __slots__ = ("batch_id", "results", "model_version", "refused_profiles")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_PROFILES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    results: _containers.RepeatedCompositeFieldContainer[FrameResult]
    model_version: str
    refused_profiles: _containers.RepeatedCompositeFieldContainer[ProfileRefusal]
    def __init__(self, batch_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[FrameResult, _Mapping]]] = ..., model_version: _Optional[str] = ..., refused_profiles: _Optional[_Iterable[_Union[ProfileRefusal, _Mapping]]] = ...) -> None: ...

class ModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "labels", "device", "precision", "input_width", "input_height", "max_batch_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    device: str
    precision: str
    input_width: int
    input_height: int
    max_batch_size: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., device: _Optional[str] = ..., precision: _Optional[str] = ..., input_width: _Optional[int] = ..., input_height: _Optional[int] = ..., max_batch_size: _Optional[int] = ...) -> None: ...

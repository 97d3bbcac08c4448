import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RiskClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_CLASS_UNSPECIFIED: _ClassVar[RiskClass]
    RISK_CLASS_I: _ClassVar[RiskClass]
    RISK_CLASS_II: _ClassVar[RiskClass]
    RISK_CLASS_III: _ClassVar[RiskClass]

class CaseSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_SOURCE_UNSPECIFIED: _ClassVar[CaseSource]
    CASE_SOURCE_DETECTION: _ClassVar[CaseSource]
    CASE_SOURCE_CAMERA: _ClassVar[CaseSource]
    CASE_SOURCE_LEDGER: _ClassVar[CaseSource]
    CASE_SOURCE_COMPLAINT: _ClassVar[CaseSource]
    CASE_SOURCE_MANUAL: _ClassVar[CaseSource]
RISK_CLASS_UNSPECIFIED: RiskClass
RISK_CLASS_I: RiskClass
RISK_CLASS_II: RiskClass
RISK_CLASS_III: RiskClass
CASE_SOURCE_UNSPECIFIED: CaseSource
CASE_SOURCE_DETECTION: CaseSource
CASE_SOURCE_CAMERA: CaseSource
CASE_SOURCE_LEDGER: CaseSource
CASE_SOURCE_COMPLAINT: CaseSource
CASE_SOURCE_MANUAL: CaseSource

class CaseChanged(_message.Message):
    __slots__ = ("meta", "case_id", "site_id", "org_path", "source", "case_type", "risk_class", "status", "previous_status", "action", "actor_id", "deadline", "occurrences", "verdict", "snapshot_key", "card_level", "source_ref", "subject_id")
    META_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_PATH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RISK_CLASS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_KEY_FIELD_NUMBER: _ClassVar[int]
    CARD_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REF_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    case_id: str
    site_id: str
    org_path: str
    source: CaseSource
    case_type: str
    risk_class: RiskClass
    status: str
    previous_status: str
    action: str
    actor_id: str
    deadline: _timestamp_pb2.Timestamp
    occurrences: int
    verdict: str
    snapshot_key: str
    card_level: int
    source_ref: str
    subject_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., case_id: _Optional[str] = ..., site_id: _Optional[str] = ..., org_path: _Optional[str] = ..., source: _Optional[_Union[CaseSource, str]] = ..., case_type: _Optional[str] = ..., risk_class: _Optional[_Union[RiskClass, str]] = ..., status: _Optional[str] = ..., previous_status: _Optional[str] = ..., action: _Optional[str] = ..., actor_id: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurrences: _Optional[int] = ..., verdict: _Optional[str] = ..., snapshot_key: _Optional[str] = ..., card_level: _Optional[int] = ..., source_ref: _Optional[str] = ..., subject_id: _Optional[str] = ...) -> None: ...

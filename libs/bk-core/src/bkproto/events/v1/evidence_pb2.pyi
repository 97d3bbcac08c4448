from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvidenceAccessed(_message.Message):
    __slots__ = ("meta", "actor_id", "actor_role", "via", "object_keys", "case_ids")
    META_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEYS_FIELD_NUMBER: _ClassVar[int]
    CASE_IDS_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    actor_id: str
    actor_role: str
    via: str
    object_keys: _containers.RepeatedScalarFieldContainer[str]
    case_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., via: _Optional[str] = ..., object_keys: _Optional[_Iterable[str]] = ..., case_ids: _Optional[_Iterable[str]] = ...) -> None: ...

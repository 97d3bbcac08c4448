from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComplaintFiled(_message.Message):
    __slots__ = ("meta", "complaint_id", "site_id", "category", "text", "photo_keys", "reporter_id", "latitude", "longitude")
    META_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PHOTO_KEYS_FIELD_NUMBER: _ClassVar[int]
    REPORTER_ID_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    complaint_id: str
    site_id: str
    category: str
    text: str
    photo_keys: _containers.RepeatedScalarFieldContainer[str]
    reporter_id: str
    latitude: float
    longitude: float
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., complaint_id: _Optional[str] = ..., site_id: _Optional[str] = ..., category: _Optional[str] = ..., text: _Optional[str] = ..., photo_keys: _Optional[_Iterable[str]] = ..., reporter_id: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_IN_APP: _ClassVar[Channel]
    CHANNEL_WECHAT_TEMPLATE: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_WEBHOOK: _ClassVar[Channel]
    CHANNEL_ROBOT: _ClassVar[Channel]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_IN_APP: Channel
CHANNEL_WECHAT_TEMPLATE: Channel
CHANNEL_SMS: Channel
CHANNEL_WEBHOOK: Channel
CHANNEL_ROBOT: Channel

class NotificationRequested(_message.Message):
    __slots__ = ("meta", "notification_id", "recipient_id", "channel", "template", "case_id", "title", "body", "urgent", "digest_count", "data")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    URGENT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    notification_id: str
    recipient_id: str
    channel: Channel
    template: str
    case_id: str
    title: str
    body: str
    urgent: bool
    digest_count: int
    data: _containers.ScalarMap[str, str]
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., notification_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., template: _Optional[str] = ..., case_id: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., urgent: _Optional[bool] = ..., digest_count: _Optional[int] = ..., data: _Optional[_Mapping[str, str]] = ...) -> None: ...

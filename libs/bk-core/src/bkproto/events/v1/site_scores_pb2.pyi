import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from bkproto.common.v1 import meta_pb2 as _meta_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SiteScore(_message.Message):
    __slots__ = ("meta", "site_id", "org_path", "score", "grade", "inspection_frequency", "list", "rank", "list_reason", "window_start", "window_end", "violations", "complaints", "ledger_findings", "overdue", "mean_close_h", "ledger_completeness", "ledger_days", "ratings_satisfied", "ratings_neutral", "ratings_dissatisfied", "deductions", "rules_version")
    class DeductionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_PATH_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    INSPECTION_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    LIST_REASON_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_FINDINGS_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    MEAN_CLOSE_H_FIELD_NUMBER: _ClassVar[int]
    LEDGER_COMPLETENESS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_DAYS_FIELD_NUMBER: _ClassVar[int]
    RATINGS_SATISFIED_FIELD_NUMBER: _ClassVar[int]
    RATINGS_NEUTRAL_FIELD_NUMBER: _ClassVar[int]
    RATINGS_DISSATISFIED_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIONS_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    site_id: str
    org_path: str
    score: float
    grade: str
    inspection_frequency: str
    list: str
    rank: int
    list_reason: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    violations: int
    complaints: int
    ledger_findings: int
    overdue: int
    mean_close_h: float
    ledger_completeness: float
    ledger_days: int
    ratings_satisfied: int
    ratings_neutral: int
    ratings_dissatisfied: int
    deductions: _containers.ScalarMap[str, float]
    rules_version: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., site_id: _Optional[str] = ..., org_path: _Optional[str] = ..., score: _Optional[float] = ..., grade: _Optional[str] = ..., inspection_frequency: _Optional[str] = ..., list: _Optional[str] = ..., rank: _Optional[int] = ..., list_reason: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., violations: _Optional[int] = ..., complaints: _Optional[int] = ..., ledger_findings: _Optional[int] = ..., overdue: _Optional[int] = ..., mean_close_h: _Optional[float] = ..., ledger_completeness: _Optional[float] = ..., ledger_days: _Optional[int] = ..., ratings_satisfied: _Optional[int] = ..., ratings_neutral: _Optional[int] = ..., ratings_dissatisfied: _Optional[int] = ..., deductions: _Optional[_Mapping[str, float]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class SiteRated(_message.Message):
    __slots__ = ("meta", "rating_id", "site_id", "score", "day", "rater_id")
    META_FIELD_NUMBER: _ClassVar[int]
    RATING_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    RATER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    rating_id: str
    site_id: str
    score: str
    day: str
    rater_id: str
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., rating_id: _Optional[str] = ..., site_id: _Optional[str] = ..., score: _Optional[str] = ..., day: _Optional[str] = ..., rater_id: _Optional[str] = ...) -> None: ...

class LedgerCompleteness(_message.Message):
    __slots__ = ("meta", "site_id", "day", "score", "items", "gaps")
    class ItemsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    meta: _meta_pb2.EventMeta
    site_id: str
    day: str
    score: float
    items: _containers.ScalarMap[str, float]
    gaps: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_meta_pb2.EventMeta, _Mapping]] = ..., site_id: _Optional[str] = ..., day: _Optional[str] = ..., score: _Optional[float] = ..., items: _Optional[_Mapping[str, float]] = ..., gaps: _Optional[_Iterable[str]] = ...) -> None: ...

"""Bounded inputs, as rules (no I/O): the calendar window, months, text, and what the guard refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from bkcore.inputs import (
    MAX_OFFSET,
    AwareInstant,
    Day,
    Instant,
    Month,
    Text,
    month_bounds,
    upload_body_limit,
)
from bkcore.text_guard import json_body_problem, target_problem


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+05:00",  # overflowed converting to UTC
        "9999-12-31T23:59:59-05:00",  # likewise, the other way
        "1899-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
    ],
)
def test_instants_outside_the_window_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="year must be between 1900 and 2199"):
        TypeAdapter(Instant).validate_python(value)


def test_instants_inside_the_window_keep_their_offset() -> None:
    edge = TypeAdapter(Instant).validate_python("2199-12-31T23:59:59-12:00")
    assert edge.tzinfo == timezone(timedelta(hours=-12))
    assert edge.astimezone(UTC).year == 2200  # arithmetic on it is safe: far from Python's limit
    assert TypeAdapter(Instant).validate_python("2026-09-01T08:00:00") == datetime(2026, 9, 1, 8)


def test_an_aware_instant_needs_its_offset() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(AwareInstant).validate_python("2026-09-01T08:00:00")
    with pytest.raises(ValidationError, match="year must be"):
        TypeAdapter(AwareInstant).validate_python("0001-01-01T00:00:00+01:00")


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_days_outside_the_window_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="year must be"):
        TypeAdapter(Day).validate_python(value)


def test_days_inside_the_window_pass() -> None:
    assert TypeAdapter(Day).validate_python("2026-02-28") == date(2026, 2, 28)


@pytest.mark.parametrize(
    "value", ["9999-12", "0001-01", "2026-13", "2026-00", "2026-1", "26-01", "2026-01-01"]
)
def test_months_outside_the_window_or_malformed_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Month).validate_python(value)


def test_month_bounds_cover_the_month_and_roll_over_the_year() -> None:
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert month_bounds("2199-12")[1] == datetime(2200, 1, 1, tzinfo=UTC)  # the window's last month
    assert month_bounds("2026-02") == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("value", "why"), [("a\x00b", "NUL"), ("\ud800", "lone surrogate"), ("x\udfff", "surrogate")]
)
def test_text_refuses_nul_and_lone_surrogates(value: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        TypeAdapter(Text).validate_python(value)


def test_text_takes_every_real_character() -> None:
    assert TypeAdapter(Text).validate_python("湖滨一小 😀 tab\tnewline\n") == "湖滨一小 😀 tab\tnewline\n"


def test_an_upload_limit_leaves_room_for_the_form_around_the_files() -> None:
    limit = upload_body_limit(files=6, file_bytes=10 * 1024 * 1024)
    assert 60 * 1024 * 1024 < limit < 61 * 1024 * 1024
    assert MAX_OFFSET < 2**31


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [
        (b'{"username": "\\ud800", "password": "x"}', "invalid_text", ("body", "username")),
        (b'{"username": "\\uDC00x"}', "invalid_text", ("body", "username")),
        (b'{"a": {"b": ["ok", "x\\u0000"]}}', "invalid_text", ("body", "a", "b", 1)),
        (b'{"\\ud800": 1}', "invalid_text", ("body", "\\ud800")),
        (b'{"name": "\xed\xa0\x80"}', "invalid_text", ("body",)),  # CESU-8 surrogate bytes
        (b'{"name": "\xff"}', "invalid_text", ("body",)),
        (b'{"t": NaN}', "invalid_number", ("body",)),
        (b'{"t": -Infinity}', "invalid_number", ("body",)),
        (b'{"t": 1e400}', "invalid_number", ("body",)),
    ],
)
def test_json_bodies_with_invalid_text_or_numbers_are_found(body: bytes, kind: str, loc: tuple) -> None:
    found = json_body_problem(body)
    assert found is not None and found[0] == kind and found[1] == loc, found


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "\\ud83d\\ude00 \xe6\xb9\x96", "n": 1e300, "e": "e100"}',  # a pair is one character
        b'{"path": "C:\\\\ud800"}',  # an escaped backslash, then plain letters
        b"not json at all",  # FastAPI reports malformed JSON itself
        b"",
    ],
)
def test_clean_json_bodies_pass(body: bytes) -> None:
    assert json_body_problem(body) is None


@pytest.mark.parametrize(
    ("path", "query", "loc"),
    [
        (b"/cases/%00", b"", ("path",)),
        (b"/cases/%ED%A0%80", b"", ("path",)),
        (b"/cases/%FF", b"", ("path",)),
        (b"/cases", b"site_id=%00", ("query", "site_id")),
        (b"/cases", b"a=1&name=x%ED%A0%80", ("query", "name")),
        (b"/cases", b"%00=1", ("query",)),
    ],
)
def test_request_targets_with_invalid_text_are_found(path: bytes, query: bytes, loc: tuple) -> None:
    found = target_problem(path, query)
    assert found is not None and found[1] == loc, found


def test_clean_request_targets_pass() -> None:
    assert (
        target_problem(b"/sites/%E6%B9%96%E6%BB%A8", b"q=%E6%B9%96+x&since=2026-01-01T00:00%2B08:00") is None
    )
    assert target_problem(b"/cases", b"") is None

"""Bounded inputs: the types routes use for pages, instants, days, months and text, so that a hostile
value is a 422 naming the parameter and never reaches SQL, date arithmetic or a JSON encoder.

Each bound here is the one place its rule lives:
- ``Limit`` / ``Offset``: page parameters. An unbounded ``offset=10**20`` overflowed the database's
  64-bit integer (a 500); a deep offset also costs the database a scan of every skipped row.
- ``Instant`` / ``Day`` / ``Month``: calendar values inside ``MIN_YEAR``..``MAX_YEAR``. Python's
  datetimes stop at years 1 and 9999, so ``0001-01-01T00:00+05:00`` overflowed on the way to UTC and
  ``month=9999-12`` overflowed computing the month's end (both 500s). Nothing the platform records
  (a capture, a ledger entry, a certificate's expiry) lies outside the window. Instants and days are
  ISO text only: pydantic reads a number as seconds since 1970, so ``start=0`` was 1970-01-01 and
  ``false`` a date (found by schemathesis).
- ``Text``: a string without NUL or lone surrogates (PostgreSQL refuses the first, UTF-8 encoders the
  second). Every JSON body, path and query string is checked for both by ``bkcore.text_guard``
  before routing; ``Text`` is for what that guard does not see, multipart form fields, declared as
  ``note: Annotated[Text, Form(max_length=n)] = ""`` (``note: Text = Form(...)`` drops the check).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

#: the largest page a list route returns
MAX_LIMIT = 1000
#: the deepest a list can be paged by offset; further back, narrow by time (``since``/``until``)
MAX_OFFSET = 100_000
#: the calendar window every instant, day and month must fall in
MIN_YEAR, MAX_YEAR = 1900, 2199

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_year(value: date) -> date:
    """``value`` (a date or a datetime, naive or aware) when its year is in the window.

    The wall-clock year is checked, not the UTC one: converting first is what overflowed. Inside
    the window any UTC offset (at most a day) stays far from Python's limits."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def text_problem(value: str) -> str | None:
    """Why ``value`` is not text anyone typed (a NUL or a lone surrogate in it), or None."""
    bad = _BAD_TEXT.search(value)
    if bad is None:
        return None
    what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate (not valid Unicode)"
    return f"contains {what} at position {bad.start()}"


def check_text(value: str) -> str:
    """``value`` when it holds no NUL and no lone surrogate; else an ``invalid_text`` error, the
    type the request guard (``bkcore.text_guard``) gives the same problem."""
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("invalid_text", problem)
    return value


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The UTC start of ``month`` ("YYYY-MM", already a valid ``Month``) and of the month after it."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if mon == 12 else datetime(year, mon + 1, 1, tzinfo=UTC)
    return start, end


def iso_calendar(value: Any) -> Any:
    """``value`` unless it is a number, or text not starting ``YYYY-MM-DD`` (which pydantic would
    read as seconds since 1970): a day or an instant is written in ISO 8601."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.match(value)):
        return value
    raise PydanticCustomError(
        "iso_calendar", "write a day as YYYY-MM-DD and an instant as ISO 8601, not as a number"
    )


def _check_month(value: str) -> str:
    check_year(date(int(value[:4]), 1, 1))
    return value


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"rows to skip, 0..{MAX_OFFSET}; further back: by time")
]
Instant = Annotated[datetime, BeforeValidator(iso_calendar), AfterValidator(check_year)]
# with its UTC offset, required
AwareInstant = Annotated[AwareDatetime, BeforeValidator(iso_calendar), AfterValidator(check_year)]
Day = Annotated[date, BeforeValidator(iso_calendar), AfterValidator(check_year)]
Month = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$"), AfterValidator(_check_month)]
Text = Annotated[str, AfterValidator(check_text)]


def bounded_text(max_length: int, *, min_length: int = 0) -> Any:
    """``Text`` of ``min_length``..``max_length`` characters (the lengths checked first, so a refusal
    is ``string_too_long`` / ``string_too_short`` like a plain bounded ``str``)."""
    return Annotated[
        str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(check_text)
    ]


#: every request body unless its route says otherwise: JSON documents, forms without files
MAX_BODY_BYTES = 1024 * 1024
#: room for a multipart body's boundaries, part headers and text fields besides its files
_MULTIPART_OVERHEAD = 256 * 1024


def upload_body_limit(*, files: int, file_bytes: int) -> int:
    """The body limit of a route taking up to ``files`` uploads of ``file_bytes`` each
    (``@router.post(..., max_body_size=upload_body_limit(...))``): larger bodies are refused with
    413 from their Content-Length, or as soon as the stream passes it, before anything is spooled."""
    return files * file_bytes + _MULTIPART_OVERHEAD

"""Invalid text is refused at the door: a 422 naming where, before any route, model or SQL sees it.

What it refuses, in the request path, the query string and JSON bodies:
- bytes that are not UTF-8 (percent-escaped in a URL, raw in a body), and lone surrogates — Python's
  JSON decoder turns ``"\\ud800"`` (and the CESU bytes ``ED A0 80``) into a ``str`` no UTF-8
  encoder accepts, so a login name or camera name made of one was a 500 at the first encode;
- NUL characters (``%00``, ``\\u0000``), which PostgreSQL refuses in text (a 500 on every route
  that filtered or stored one);
- ``NaN`` and ``Infinity`` (not JSON, though Python reads them) and numbers too large for a float:
  stored, they made every later read of the record a 500, since no JSON encoder writes them;
- a query parameter given twice (no route takes a list there; the framework kept the last value).

JSON bodies are scanned for the few byte patterns that can produce any of these; only a body that
holds one is parsed here, so ordinary requests pay one UTF-8 check and one regular-expression pass.
Multipart form fields are not seen here: routes declare them with ``bkcore.inputs.Text``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bkcore.inputs import text_problem

Loc = tuple[str | int, ...]
Problem = tuple[str, Loc, str]  # (type, loc, msg), as in FastAPI's 422 details
# Anything in a JSON text that could decode to NUL, a surrogate or a non-finite number.
_SUSPECT_JSON = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)|NaN|Infinity|[eE][+-]?\d{3}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _NotFinite(ValueError):
    pass


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotFinite(f"{text} is too large for a number")
    return value


def _constant(name: str) -> float:
    raise _NotFinite(f"{name} is not a JSON number")


def _bad_text(value: str) -> str | None:
    return text_problem(value)


def _walk(value: Any, loc: Loc) -> Problem | None:
    """The first key or string under ``value`` that is not valid text, with where it is."""
    if isinstance(value, str):
        msg = _bad_text(value)
        return ("invalid_text", loc, msg) if msg else None
    if isinstance(value, dict):
        for k, v in value.items():
            msg = _bad_text(k)
            if msg:
                return "invalid_text", (*loc, k.encode("utf-8", "backslashreplace").decode()), f"a key {msg}"
            found = _walk(v, (*loc, k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _walk(v, (*loc, i))
            if found:
                return found
    return None


def json_body_problem(body: bytes) -> Problem | None:
    """Where and why a JSON body holds invalid text or a non-finite number; None when it is clean
    (or not JSON at all: the route's own parser reports that as usual)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "invalid_text", ("body",), f"not UTF-8 at byte {exc.start}"
    return json_text_problem(text, ("body",))


def json_text_problem(text: str, loc: Loc) -> Problem | None:
    """``json_body_problem`` for JSON already decoded, found at ``loc`` (e.g. a form field holding
    a JSON document)."""
    if not _SUSPECT_JSON.search(text):
        return None
    try:
        doc = json.loads(text, parse_float=_float, parse_constant=_constant)
    except _NotFinite as exc:
        return "invalid_number", loc, str(exc)
    except ValueError:
        return None  # malformed JSON: the route's own parser reports it
    return _walk(doc, loc)


def _component_problem(raw: bytes) -> str | None:
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 once percent-decoded"
    return _bad_text(text)


def target_problem(raw_path: bytes, query: bytes) -> Problem | None:
    """Where and why the request target (path and query string) holds invalid text."""
    if b"%" in raw_path or not raw_path.isascii():
        msg = _component_problem(raw_path)
        if msg:
            return "invalid_text", ("path",), msg
    if query and (b"%" in query or not query.isascii()):
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            msg = _component_problem(name.replace(b"+", b" "))
            if msg:
                return "invalid_text", ("query",), f"a parameter name {msg}"
            msg = _component_problem(value.replace(b"+", b" "))
            if msg:
                shown = unquote_to_bytes(name).decode("utf-8", "replace")
                return "invalid_text", ("query", shown), msg
    return _repeated_parameter(query)


def _repeated_parameter(query: bytes) -> Problem | None:
    """No route takes a list in its query string: ``?site_id=a&site_id=b`` is ambiguous (the framework
    silently kept the last one; found by schemathesis), so a repeated name is refused."""
    if b"&" not in query:
        return None
    seen: set[bytes] = set()
    for pair in query.split(b"&"):
        name = unquote_to_bytes(pair.partition(b"=")[0].replace(b"+", b" "))
        if name in seen:
            shown = name.decode("utf-8", "replace")
            return "repeated_parameter", ("query", shown), "given more than once; a parameter takes one value"
        if name:
            seen.add(name)
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return False


def _refusal(kind: str, loc: Loc, msg: str) -> JSONResponse:
    return JSONResponse({"detail": [{"type": kind, "loc": list(loc), "msg": msg}]}, status_code=422)


class TextGuard:
    """ASGI middleware: refuses invalid text in the path, query string and JSON body with a 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        found = target_problem(raw_path, scope.get("query_string", b""))
        if found:
            await _refusal(*found)(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        # A JSON body is read whole here (the app's body limit still caps it while it streams in).
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        found = json_body_problem(body)
        if found:
            await _refusal(*found)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect can come

        await self.app(scope, replay, send)

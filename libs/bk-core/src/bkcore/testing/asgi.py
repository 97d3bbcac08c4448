"""Calling an ASGI app with a body it may or may not read: tests that prove a refusal came before the
body was read (an upload to nowhere, a stranger's upload, a body over its route's cap)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message


async def post_unread(
    app: ASGIApp,
    path: str,
    *,
    declared: int,
    headers: dict[str, str] | None = None,
    content_type: str = "multipart/form-data; boundary=b",
) -> tuple[int, int]:
    """POST to ``path`` announcing ``declared`` body bytes; returns (status, how many times the app
    asked for the body). Each ask gets 64 KiB of filler, so an app that reads at all is seen to."""
    reads = 0
    status = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    raw = {"host": "test", "content-type": content_type, "content-length": str(declared), **(headers or {})}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "server": ("test", 80), "client": ("127.0.0.1", 5000),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in raw.items()],
    }  # fmt: skip
    await app(scope, receive, send)
    return status, reads

"""The shared app against hostile requests, on a real uvicorn on loopback (raw sockets, so the test
controls exactly what reaches the server and when).

Each test is an attack and the refusal it must get: a 30 MB login body is a 413 before the server
reads it, an endless chunked body is cut off at the cap, invalid text is a 422 that keeps the
connection usable, and an upload route takes more than the default only up to its own cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
import uvicorn
from fastapi import File, Form, UploadFile
from pydantic import BaseModel, Field

from bkcore.http import create_app
from bkcore.inputs import MAX_BODY_BYTES, Limit, Offset, Text, upload_body_limit

pytestmark = pytest.mark.timeout(60)
PHOTO_BYTES = 3 * 1024 * 1024


class LoginIn(BaseModel):
    username: str = Field(max_length=100)
    password: str = Field(max_length=200)


def build_app():  # type: ignore[no-untyped-def]
    app = create_app(service="limits-test", title="limits")
    seen: dict[str, int] = {"login": 0}

    @app.post("/auth/login")
    async def login(body: LoginIn) -> dict[str, str]:
        seen["login"] += 1
        return {"user": body.username}

    @app.get("/cases")
    async def cases(limit: Limit = 50, offset: Offset = 0) -> dict[str, int]:
        return {"limit": limit, "offset": offset}

    @app.post("/photos", max_body_size=upload_body_limit(files=2, file_bytes=PHOTO_BYTES))
    async def photos(
        note: Annotated[Text, Form(max_length=100)] = "", files: list[UploadFile] = File(...)
    ) -> dict:
        return {"sizes": [len(await f.read()) for f in files], "note": note}

    app.state.seen = seen
    return app


@contextlib.asynccontextmanager
async def serve(app) -> AsyncIterator[int]:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}: {task.exception()!r}")
                await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: t"] + [
        f"{k.replace('_', '-')}: {v}" for k, v in headers.items()
    ]
    if "content_length" not in headers and "transfer_encoding" not in headers:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_a_30_mb_login_body_is_refused_from_its_content_length_before_it_is_read() -> None:
    app = build_app()
    async with serve(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # The attacker announces 30 MB and sends the first KiB: the answer must come without the rest.
        head = request(
            "POST", "/auth/login", b"", content_type="application/json", content_length=str(30 << 20)
        )
        writer.write(head + b'{"username": "' + b"a" * 1024)
        await writer.drain()
        status, _, body = await read_response(reader)
        writer.close()
    assert status == 413 and b"Too Large" in body
    assert app.state.seen["login"] == 0


async def test_an_endless_chunked_body_is_cut_off_at_the_cap() -> None:
    app = build_app()
    async with serve(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            request("POST", "/auth/login", content_type="application/json", transfer_encoding="chunked")
        )
        chunk = b"a" * 65536
        sent = 0
        answer: asyncio.Task = asyncio.create_task(read_response(reader))
        with contextlib.suppress(ConnectionError):
            while not answer.done() and sent < 64 * MAX_BODY_BYTES:  # bounded: 64 MiB at most
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0)
        status, _, _ = await answer
        writer.close()
    assert status == 413
    assert app.state.seen["login"] == 0
    # Answered while the attacker was still sending: far less than the 64 MiB it would have sent.
    assert sent < 64 * MAX_BODY_BYTES


async def test_invalid_text_is_a_422_and_the_connection_stays_usable() -> None:
    async with serve(build_app()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        attacks = [
            request(
                "POST",
                "/auth/login",
                b'{"username": "\\ud800", "password": "x"}',
                content_type="application/json",
            ),
            request(
                "POST",
                "/auth/login",
                b'{"username": "a\\u0000", "password": "x"}',
                content_type="application/json",
            ),
            request("GET", "/cases?offset=100000000000000000000"),
            request("GET", "/cases?offset=1e20"),
            request("GET", "/cases/%ED%A0%80"),
        ]
        answers = []
        for attack in attacks:  # one keep-alive connection: each answer must come, none may drop it
            writer.write(attack)
            await writer.drain()
            answers.append(await read_response(reader))
        writer.write(
            request(
                "POST", "/auth/login", b'{"username": "ok", "password": "x"}', content_type="application/json"
            )
        )
        await writer.drain()
        last = await read_response(reader)
        writer.close()
    statuses = [s for s, _, _ in answers]
    assert statuses == [422, 422, 422, 422, 422], answers
    first = json.loads(answers[0][2])["detail"][0]
    assert first["loc"] == ["body", "username"] and "surrogate" in first["msg"]
    assert json.loads(answers[2][2])["detail"][0]["loc"] == ["query", "offset"]
    assert all("x-request-id" in h for _, h, _ in answers)
    assert last[0] == 200


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "bkboundary") -> tuple[bytes, str]:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def test_an_upload_route_takes_more_than_the_default_only_up_to_its_own_cap() -> None:
    async with serve(build_app()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body, ctype = multipart([("files", "a.jpg", b"x" * (2 * MAX_BODY_BYTES))])
        writer.write(request("POST", "/photos", body, content_type=ctype))
        await writer.drain()
        ok = await read_response(reader)
        # three photos' worth announced on a route capped at two: refused before a byte is read
        writer.write(
            request("POST", "/photos", content_type=ctype, content_length=str(3 * PHOTO_BYTES + 300_000))
        )
        await writer.drain()
        refused = await read_response(reader)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body, ctype = multipart([("note", None, b"a\x00b"), ("files", "a.jpg", b"x")])
        writer.write(request("POST", "/photos", body, content_type=ctype))
        await writer.drain()
        nul_note = await read_response(reader)
        writer.close()
    assert ok[0] == 200 and json.loads(ok[2])["sizes"] == [2 * MAX_BODY_BYTES]
    assert refused[0] == 413
    assert nul_note[0] == 422 and "NUL" in nul_note[2].decode()

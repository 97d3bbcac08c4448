"""Local object store: the embedded mode's S3, including its signed-URL route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from bkcore.objstore import LocalObjectStore, ObjectNotFound, S3ObjectStore, make_object_store
from bkcore.objstore.http import object_router
from bkcore.settings import CoreSettings, StoreKind

SECRET = "test-signing-secret-0123456789abcdef"
BAD_KEYS = [
    "../etc/passwd",
    "t1/../../x",
    "/abs/key",
    "t1//x",
    "t1/x/",
    "",
    ".hidden",
    "t1/a b",
    "t1\\x",
    "t1/%2e%2e/x",
    "t1/x?y",
]


class Clock:
    """A settable unix clock, so URLs can expire without sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.t = now

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", SECRET, "http://testserver", 600, clock=clock)


@pytest.fixture
async def client(store: LocalObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(object_router(store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def test_roundtrip(store: LocalObjectStore) -> None:
    key = "t1/evidence/2026/09/01/cam-1/a.jpg"
    assert not await store.exists(key)
    await store.put(key, b"jpeg-bytes", "image/jpeg")
    assert await store.exists(key)
    assert await store.get(key) == b"jpeg-bytes"
    assert await store.get_with_type(key) == (b"jpeg-bytes", "image/jpeg")
    await store.put(key, b"v2", "image/jpeg")  # overwrite
    assert await store.get(key) == b"v2"
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(ObjectNotFound):
        await store.get(key)
    await store.delete(key)  # deleting a missing object is not an error
    assert await store.ready()


async def test_writes_are_atomic_and_leave_no_temp_files(store: LocalObjectStore) -> None:
    await store.put("t1/a.bin", b"x" * 100_000)
    assert list((store.root / ".tmp").iterdir()) == []
    assert (store.root / "t1/a.bin").read_bytes() == b"x" * 100_000


async def test_content_type_falls_back_to_extension(store: LocalObjectStore) -> None:
    await store.put("t1/b.png", b"png", "image/png")
    (store.root / ".meta/t1/b.png").unlink()  # sidecar lost
    assert await store.get_with_type("t1/b.png") == (b"png", "image/png")


async def test_directory_key_is_not_an_object(store: LocalObjectStore) -> None:
    await store.put("t1/dir/x.jpg", b"x")
    assert not await store.exists("t1/dir")
    with pytest.raises(ObjectNotFound):
        await store.get("t1/dir")


async def test_list_folders_and_keys(store: LocalObjectStore) -> None:
    for key in (
        "t1/detector/c1/v1.json",
        "t1/detector/c1/v1.started",
        "t1/detector/c2/v2.json",
        "t2/evidence/x.jpg",
        "t1/top.txt",
    ):
        await store.put(key, b"x")
    assert await store.list("t1/detector/") == [
        "t1/detector/c1/v1.json",
        "t1/detector/c1/v1.started",
        "t1/detector/c2/v2.json",
    ]
    assert await store.list("t1/") == [
        "t1/detector/c1/v1.json",
        "t1/detector/c1/v1.started",
        "t1/detector/c2/v2.json",
        "t1/top.txt",
    ]
    assert await store.list("t2/") == ["t2/evidence/x.jpg"]
    await store.delete("t1/detector/c2/v2.json")
    assert await store.list("t1/detector/c2/") == []
    assert await store.list("t9/") == [] and await store.list("t1/top.txt/") == []


@pytest.mark.parametrize("prefix", ["", "t1", "../", "t1//", "/t1/", ".meta/", ".tmp/", "t1/../"])
async def test_invalid_prefixes_refused(store: LocalObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        await store.list(prefix)


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_keys_refused(store: LocalObjectStore, tmp_path: Path, key: str) -> None:
    for call in (
        store.put(key, b"x"),
        store.get(key),
        store.exists(key),
        store.delete(key),
        store.signed_url(key),
    ):
        with pytest.raises(ValueError):
            await call
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()


async def test_header_injection_in_content_type_refused(store: LocalObjectStore) -> None:
    with pytest.raises(ValueError):
        await store.put("t1/x.jpg", b"x", "text/html\r\nSet-Cookie: a=b")
    assert not await store.exists("t1/x.jpg")


async def test_signed_url_serves_until_expiry(
    store: LocalObjectStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    await store.put("t1/e/a.jpg", b"jpeg", "image/jpeg")
    url = await store.signed_url("t1/e/a.jpg", ttl_s=60)
    assert url.startswith("http://testserver/objects/t1/e/a.jpg?exp=")

    resp = await client.get(url)
    assert resp.status_code == 200 and resp.content == b"jpeg"
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["cache-control"] == "private, max-age=60"

    clock.t += 45
    resp = await client.get(url)
    assert resp.status_code == 200 and resp.headers["cache-control"] == "private, max-age=15"

    clock.t += 16  # past exp
    resp = await client.get(url)
    assert resp.status_code == 403 and resp.json() == {"detail": "signed URL expired"}


async def test_tampered_or_missing_signature_refused(
    store: LocalObjectStore, client: httpx.AsyncClient
) -> None:
    await store.put("t1/a.jpg", b"a", "image/jpeg")
    await store.put("t2/b.jpg", b"b", "image/jpeg")
    url = await store.signed_url("t1/a.jpg", ttl_s=60)
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    sig, exp = q["sig"], int(q["exp"])
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    refused = [
        f"/objects/t1/a.jpg?exp={exp}&sig={flipped}",  # tampered signature
        f"/objects/t1/a.jpg?exp={exp + 3600}&sig={sig}",  # lifetime stretched
        f"/objects/t2/b.jpg?exp={exp}&sig={sig}",  # signature reused on another key
        "/objects/t1/a.jpg",  # unsigned
        f"/objects/t1/a.jpg?exp=soon&sig={sig}",  # garbage expiry
        f"/objects/t1/../t2/b.jpg?exp={exp}&sig={sig}",  # traversal
    ]
    for path in refused:
        resp = await client.get(path)
        assert resp.status_code == 403, path
        assert "detail" in resp.json()
    assert (await client.get(url)).status_code == 200


async def test_signed_url_for_missing_object_is_404(
    store: LocalObjectStore, client: httpx.AsyncClient
) -> None:
    url = await store.signed_url("t1/gone.jpg", ttl_s=60)
    resp = await client.get(url)
    assert resp.status_code == 404 and resp.json() == {"detail": "object not found"}


def test_verify_signature(store: LocalObjectStore, clock: Clock) -> None:
    exp = int(clock.t) + 10
    sig = store._sign("t1/a.jpg", exp)
    assert store.verify_signature("t1/a.jpg", exp, sig)
    assert store.verify_signature("t1/a.jpg", str(exp), sig, now=clock.t + 9)
    assert not store.verify_signature("t1/a.jpg", exp, sig, now=exp)  # expired at exp
    assert not store.verify_signature("t1/a.jpg1", exp, sig)  # other key
    assert not store.verify_signature("../a.jpg", exp, sig)  # invalid key
    other = LocalObjectStore(store.root, "another-secret-0123456789", "http://x", 60, clock=clock)
    assert not other.verify_signature("t1/a.jpg", exp, sig)  # other secret


def test_empty_secret_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalObjectStore(tmp_path, "", "http://x", 60)


async def test_factory_local_persists_generated_secret(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path, url_signing_secret="", http_host="0.0.0.0", http_port=8123)
    first = make_object_store(settings)
    assert isinstance(first, LocalObjectStore)
    assert first.root == tmp_path / "objects"
    await first.put("t1/a.jpg", b"a", "image/jpeg")
    url = await first.signed_url("t1/a.jpg")
    assert url.startswith("http://127.0.0.1:8123/objects/t1/a.jpg?")

    # A "restart": a new store from the same settings must accept links the old one handed out.
    second = make_object_store(settings)
    assert isinstance(second, LocalObjectStore)
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert second.verify_signature("t1/a.jpg", q["exp"], q["sig"])


def test_factory_uses_configured_secret_and_public_url(tmp_path: Path) -> None:
    settings = CoreSettings(
        data_dir=tmp_path, url_signing_secret=SECRET, public_base_url="https://bk.example.org/api/"
    )
    store = make_object_store(settings)
    assert isinstance(store, LocalObjectStore) and store.base_url == "https://bk.example.org/api"
    assert not (tmp_path / "secrets").exists()  # nothing generated when one is configured


def test_factory_s3(tmp_path: Path) -> None:
    settings = CoreSettings(
        data_dir=tmp_path,
        object_store=StoreKind.S3,
        s3_endpoint="127.0.0.1:9",
        s3_access_key="ak",
        s3_secret_key="sk",
        s3_bucket="bk-evidence",
    )
    store = make_object_store(settings)
    assert isinstance(store, S3ObjectStore) and store.bucket == "bk-evidence"

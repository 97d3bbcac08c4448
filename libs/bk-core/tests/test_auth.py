"""Tokens, the FastAPI dependencies, and the scoping matrix against a real SQLite table."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import Column, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bkcore.auth import AuthError, Principal, Role, TokenIssuer, in_subtree
from bkcore.auth_http import Authenticator, ensure_site_visible, scope_to_principal

SECRET = "jwt-test-secret-0123456789abcdef"
SUP = Principal("u-sup", "t1", Role.SUPERVISOR, org_path="/sz/nanshan", name="Li")


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET)


# -- tokens ---------------------------------------------------------------------------------------

def test_token_roundtrip(issuer: TokenIssuer) -> None:
    staff = Principal("u-1", "t1", Role.SITE_MANAGER, site_ids=frozenset({"s1", "s2"}), name="Wang")
    for p in (SUP, staff, Principal("svc-detector", "*", Role.SERVICE)):
        assert issuer.verify(issuer.issue(p)) == p


def test_expired_token(issuer: TokenIssuer) -> None:
    token = issuer.issue(SUP, ttl_s=60, now=time.time() - 61)
    with pytest.raises(AuthError, match="expired"):
        issuer.verify(token)


def test_wrong_secret_and_tampering(issuer: TokenIssuer) -> None:
    token = issuer.issue(SUP)
    with pytest.raises(AuthError):
        TokenIssuer("another-secret-0123456789abcdefgh").verify(token)
    with pytest.raises(AuthError):
        TokenIssuer(SECRET, issuer="someone-else").verify(token)

    # Widen the scope in the payload and keep the old signature: must be refused.
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(org="/", role="platform_admin")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged}.{sig}", f"{head}.{payload}.{sig[:-2]}AA", "not-a-jwt", ""):
        with pytest.raises(AuthError):
            issuer.verify(bad)

    # alg=none must never be accepted.
    unsigned = jwt.encode({"sub": "x", "tid": "t1", "role": "platform_admin", "iss": "bright-kitchen",
                           "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(AuthError):
        issuer.verify(unsigned)


def test_token_with_bad_claims_refused(issuer: TokenIssuer) -> None:
    base = {"sub": "x", "tid": "t1", "iss": "bright-kitchen", "exp": int(time.time()) + 60}
    for claims in ({**base, "role": "god"}, base, {**base, "role": "supervisor", "org": ""},
                   {**base, "role": "supervisor", "org": None}):
        with pytest.raises(AuthError):
            issuer.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_short_secret_and_relative_org_path_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenIssuer("short")
    with pytest.raises(ValueError, match="openssl rand"):
        TokenIssuer("x" * 31)  # what PyJWT warns about for HS256
    assert TokenIssuer("x" * 32)
    with pytest.raises(ValueError):
        Principal("u", "t1", Role.SUPERVISOR, org_path="")


def test_in_subtree() -> None:
    assert in_subtree("/a/b", "/a/b") and in_subtree("/a/b/c", "/a/b") and in_subtree("/a/b/c", "/a/b/")
    assert in_subtree("/x", "/")
    assert not in_subtree("/a/bc", "/a/b") and not in_subtree("/a", "/a/b")


# -- FastAPI dependencies -------------------------------------------------------------------------

@pytest.fixture
async def client(issuer: TokenIssuer) -> AsyncIterator[httpx.AsyncClient]:
    auth = Authenticator(issuer)
    app = FastAPI()

    @app.get("/me")
    async def me(p: Principal = Depends(auth)) -> dict[str, str]:
        return {"sub": p.subject, "tenant": p.tenant_id}

    @app.get("/review")
    async def review(p: Principal = Depends(auth.require_roles(Role.SUPERVISOR, Role.PLATFORM_ADMIN))
                     ) -> dict[str, str]:
        return {"sub": p.subject}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_authenticator(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    resp = await client.get("/me", headers=_bearer(issuer.issue(SUP)))
    assert resp.status_code == 200 and resp.json() == {"sub": "u-sup", "tenant": "t1"}

    resp = await client.get("/me")
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in resp.headers["www-authenticate"]

    expired = issuer.issue(SUP, ttl_s=1, now=time.time() - 10)
    for headers in (_bearer("garbage"), _bearer(expired), {"Authorization": "Basic dTpw"},
                    _bearer(TokenIssuer("another-secret-0123456789abcdefgh").issue(SUP))):
        resp = await client.get("/me", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_require_roles(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    assert (await client.get("/review", headers=_bearer(issuer.issue(SUP)))).status_code == 200
    staff = Principal("u-2", "t1", Role.STAFF, site_ids=frozenset({"n1"}))
    assert (await client.get("/review", headers=_bearer(issuer.issue(staff)))).status_code == 403
    assert (await client.get("/review")).status_code == 401


# -- scoping --------------------------------------------------------------------------------------
# (tenant, site_id, org_path). t2 reuses t1's site ids on purpose; the odd paths are traps for a
# naive prefix match, for LIKE wildcards, and for SQLite's case-insensitive LIKE.
ROWS = [
    ("t1", "hq", "/sz"), ("t1", "n1", "/sz/nanshan"), ("t1", "n2", "/sz/nanshan/xili"),
    ("t1", "bay", "/sz/nanshanbay"), ("t1", "upper", "/SZ/nanshan/up"), ("t1", "f1", "/sz/futian"),
    ("t1", "uscore", "/sz/nanXhan/z"), ("t1", "nh", "/sz/nan_han/z"), ("t1", "pct", "/sz/50%off/k"),
    ("t2", "hq", "/sz"), ("t2", "n1", "/sz/nanshan"), ("t2", "n2", "/sz/nanshan/xili"),
]
T1 = {f"t1:{s}" for t, s, _ in ROWS if t == "t1"}

metadata = MetaData()
cases = Table("cases", metadata, Column("id", String, primary_key=True), Column("tenant_id", String),
              Column("site_id", String), Column("org_path", String), Column("status", String))

# (principal, parent's server-side bindings, rows that may come back — nothing else may)
MATRIX: list[tuple[Principal, set[str] | None, set[str]]] = [
    (Principal("a", "t1", Role.PLATFORM_ADMIN, org_path="/sz/futian"), None, T1),
    (Principal("a", "t2", Role.PLATFORM_ADMIN), None, {"t2:hq", "t2:n1", "t2:n2"}),
    (SUP, None, {"t1:n1", "t1:n2"}),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/sz/nanshan/"), None, {"t1:n1", "t1:n2"}),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/"), None, T1),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/sz/nan_han"), None, {"t1:nh"}),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/sz/50%"), None, set()),
    (Principal("s", "t3", Role.SUPERVISOR, org_path="/"), None, set()),
    (Principal("m", "t1", Role.SITE_MANAGER, site_ids=frozenset({"n1", "f1"})), None, {"t1:n1", "t1:f1"}),
    (Principal("m", "t1", Role.STAFF, site_ids=frozenset({"n2"})), None, {"t1:n2"}),
    (Principal("m", "t1", Role.STAFF), None, set()),
    # A parent's token site list is ignored; only the server-side bindings count.
    (Principal("p", "t1", Role.PARENT, site_ids=frozenset({"f1"})), {"n2"}, {"t1:n2"}),
    (Principal("p", "t1", Role.PARENT, site_ids=frozenset({"f1"})), None, set()),
    (Principal("p", "t1", Role.PARENT), set(), set()),
    (Principal("svc", "t1", Role.SERVICE), None, T1),
    (Principal("svc", "*", Role.SERVICE), None, {f"{t}:{s}" for t, s, _ in ROWS}),
]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'scope.db'}")
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(cases), [
            {"id": f"{t}:{s}", "tenant_id": t, "site_id": s, "org_path": p, "status": "open"}
            for t, s, p in ROWS
        ])
    yield eng
    await eng.dispose()


def _scoped(stmt, p: Principal, bound: set[str] | None, **cols):  # type: ignore[no-untyped-def]
    cols = {"tenant_col": cases.c.tenant_id, "org_path_col": cases.c.org_path,
            "site_id_col": cases.c.site_id, **cols}
    return scope_to_principal(stmt, p, bound_site_ids=bound, **cols)


MATRIX_IDS = [f"{p.role}-{p.tenant_id}-{p.org_path}-{i}" for i, (p, _, _) in enumerate(MATRIX)]


@pytest.mark.parametrize(("principal", "bound", "expected"), MATRIX, ids=MATRIX_IDS)
async def test_scoping_matrix(engine: AsyncEngine, principal: Principal, bound: set[str] | None,
                              expected: set[str]) -> None:
    async with engine.connect() as conn:
        got = set((await conn.execute(_scoped(select(cases.c.id), principal, bound))).scalars())
    assert got == expected

    # The SQL filter and the one-object check agree on every row.
    bound_fs = frozenset(bound) if bound is not None else None
    for tenant, site, path in ROWS:
        assert principal.can_see_site(tenant, site, path, bound_fs) == (f"{tenant}:{site}" in expected)
        if f"{tenant}:{site}" in expected:
            ensure_site_visible(principal, tenant, site, path, bound)
        else:
            with pytest.raises(HTTPException) as exc:
                ensure_site_visible(principal, tenant, site, path, bound)
            assert exc.value.status_code == 404


async def test_scoping_applies_to_updates(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(_scoped(update(cases).values(status="closed"), SUP, None))
        assert result.rowcount == 2
        closed = set((await conn.execute(select(cases.c.id).where(cases.c.status == "closed"))).scalars())
    assert closed == {"t1:n1", "t1:n2"}


async def test_unscopable_table_fails_closed(engine: AsyncEngine) -> None:
    staff = Principal("m", "t1", Role.STAFF, site_ids=frozenset({"n1"}))
    async with engine.connect() as conn:
        for p, cols in ((SUP, {"org_path_col": None}), (staff, {"site_id_col": None})):
            assert list(await conn.execute(_scoped(select(cases.c.id), p, None, **cols))) == []
